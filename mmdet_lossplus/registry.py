"""Registry nodes of mmdet_lossplus.

Each node is a child of mmdet's node of the same kind and has the scope
``mmdet_lossplus``. A config whose default scope is ``mmdet`` therefore
reaches our modules as ``type='mmdet_lossplus.Name'``: mmengine imports
``mmdet_lossplus.registry`` on demand (no ``custom_imports`` needed) and
then the ``locations`` below, which register the modules. mmdet's own
names are never overridden, so mmdet's ``GHMC`` and ours coexist.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmengine.registry import Registry

SCOPE = 'mmdet_lossplus'


def _child(name: str, parent: Registry) -> Registry:
    """A registry of our scope below mmdet's ``parent``; mmengine imports
    the package when a config names ``mmdet_lossplus.<Type>``."""
    return Registry(
        name, parent=parent, scope=SCOPE, locations=['mmdet_lossplus'])


MODELS = _child('model', MMDET_MODELS)
HOOKS = _child('hook', MMDET_HOOKS)
TASK_UTILS = _child('task util', MMDET_TASK_UTILS)
DATASETS = _child('dataset', MMDET_DATASETS)
DATA_SAMPLERS = _child('data sampler', MMDET_DATA_SAMPLERS)
TRANSFORMS = _child('transform', MMDET_TRANSFORMS)
METRICS = _child('metric', MMDET_METRICS)
