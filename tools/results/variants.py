"""What a config is, read from the config files: its test-time score
cut, its training twin (a config that differs only in test-time settings
trains the same network), and its detector's focal baseline."""
import ast
import functools
import os.path as osp

from .paths import ROOT
from .store import run_key


@functools.lru_cache(maxsize=None)
def config_score_thr(config: str):
    """The test-time score cut of ``config`` (``model.test_cfg``; each
    config read once per process)."""
    from mmengine.config import Config
    test_cfg = Config.fromfile(config).model.get('test_cfg') or {}
    return test_cfg.get('score_thr')


def current_runs(runs: list, configs: list) -> tuple:
    """(runs evaluated at their config's current score cut, the others)."""
    cut = {run_key(c, 0, 1)[0]: config_score_thr(c) for c in configs}
    kept, stale = [], []
    for r in runs:
        if r['config'] in cut:
            same = r.get('score_thr', 'unknown') == cut[r['config']]
            (kept if same else stale).append(r)
    return kept, stale


# the parts of a config that only testing reads
TEST_ONLY_KEYS = ('test_cfg', 'test_dataloader', 'test_evaluator',
                  'test_pipeline', 'val_cfg', 'val_dataloader',
                  'val_evaluator')


def _single_base(config: str):
    """The one local file ``config``'s ``_base_`` names, else None (a list
    of bases, a ``scope::`` base or none)."""
    with open(config) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        names = [getattr(t, 'id', None) for t in getattr(node, 'targets', [])]
        # a string constant; a list of bases has no ``.value.value``
        base = getattr(getattr(node, 'value', None), 'value', None)
        if '_base_' in names and isinstance(base, str) and '::' not in base:
            return osp.normpath(
                osp.join(osp.dirname(osp.abspath(config)), base))
    return None


def _training_part(config: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(config).to_dict()
    for key in TEST_ONLY_KEYS:
        cfg.pop(key, None)
    cfg.get('model', {}).pop('test_cfg', None)
    return cfg


@functools.lru_cache(maxsize=None)
def training_twin(config: str):
    """The config (repository-relative) that ``config`` inherits from when
    the two differ in test-time settings alone (``TEST_ONLY_KEYS`` and
    ``model.test_cfg``), so they train the same network; else None."""
    base = _single_base(config)
    if base is None or _training_part(config) != _training_part(base):
        return None
    return run_key(base, 0, 1)[0]


# the focal-loss baseline of each detector type, for the comparison column
BASELINES = {
    'RetinaNet': 'configs/retinanet/retinanet_r18_fpn_demo.py',
    'ATSS': 'configs/atss/atss_r18_fpn_demo.py',
    'FCOS': 'configs/fcos/fcos_r18_fpn_demo.py',
}


@functools.lru_cache(maxsize=None)
def baseline_config(config: str) -> str:
    """The focal baseline of ``config``'s detector (repository-relative)."""
    from mmengine.config import Config
    kind = Config.fromfile(osp.join(ROOT, config)).model.type
    return BASELINES.get(kind)
