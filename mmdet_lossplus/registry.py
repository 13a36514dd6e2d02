"""Registry nodes of mmdet_lossplus.

Each node is a child of mmdet's node of the same kind and has the scope
``mmdet_lossplus``. A config whose default scope is ``mmdet`` therefore
reaches our modules as ``type='mmdet_lossplus.Name'``: mmengine imports
``mmdet_lossplus.registry`` on demand (no ``custom_imports`` needed) and
then the ``locations`` below, which register the modules. mmdet's own
names are never overridden, so mmdet's ``GHMC`` and ours coexist.
"""
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmengine.registry import Registry

SCOPE = 'mmdet_lossplus'

MODELS = Registry(
    'model', parent=MMDET_MODELS, scope=SCOPE, locations=['mmdet_lossplus'])
HOOKS = Registry(
    'hook', parent=MMDET_HOOKS, scope=SCOPE, locations=['mmdet_lossplus'])
TASK_UTILS = Registry(
    'task util',
    parent=MMDET_TASK_UTILS,
    scope=SCOPE,
    locations=['mmdet_lossplus'])
DATASETS = Registry(
    'dataset',
    parent=MMDET_DATASETS,
    scope=SCOPE,
    locations=['mmdet_lossplus'])
TRANSFORMS = Registry(
    'transform',
    parent=MMDET_TRANSFORMS,
    scope=SCOPE,
    locations=['mmdet_lossplus'])
METRICS = Registry(
    'metric', parent=MMDET_METRICS, scope=SCOPE, locations=['mmdet_lossplus'])
