"""mmdet_lossplus: exact, distributed-aware detection losses for mmdet 3.x.

Import it (or let mmengine import it through ``type='mmdet_lossplus.X'``)
to register its modules in the ``mmdet_lossplus`` registry scope.
"""

__all__ = ['__version__']
# Importing changes no global behaviour (checkpoint loading included: see
# ``utils.checkpoint_loading``).
from . import coders, datasets, evaluation, heads, hooks, losses  # noqa: F401
# Registering the modules makes ``custom_imports`` and the scoped
# ``type='mmdet_lossplus.X'`` behave the same.
from .version import __version__
