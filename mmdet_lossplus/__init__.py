"""mmdet_lossplus: exact, distributed-aware detection losses for mmdet 3.x.

Import it (or let mmengine import it through ``type='mmdet_lossplus.X'``)
to register its modules in the ``mmdet_lossplus`` registry scope.
"""
# Registering the modules makes ``custom_imports`` and the scoped
# ``type='mmdet_lossplus.X'`` behave the same.
from . import coders, datasets, evaluation, heads, hooks, losses  # noqa: F401
from .utils import enable_trusted_checkpoint_loading
from .version import __version__

enable_trusted_checkpoint_loading()

__all__ = ['__version__']
