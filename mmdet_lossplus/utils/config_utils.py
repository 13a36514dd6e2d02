"""Config edits shared by the tools."""
from typing import Any, Iterator, Optional

import torch

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_EVALUATORS = ('val_evaluator', 'test_evaluator')


def _datasets(node: Any) -> Iterator[Any]:
    """Yield the dataset dicts of a dataloader, wrappers included."""
    if node is None:
        return
    if 'data_root' in node:
        yield node
    if node.get('dataset') is not None:
        yield from _datasets(node['dataset'])
    for child in node.get('datasets', None) or []:
        yield from _datasets(child)


def set_data_root(cfg: Any, data_root: str) -> None:
    """Point every dataset and evaluator of ``cfg`` at ``data_root``.

    Evaluator annotation files that start with the config's old
    ``data_root`` are moved along with it.
    """
    if not data_root.endswith('/'):
        data_root += '/'
    old = cfg.get('data_root', None)
    for key in _LOADERS:
        loader = cfg.get(key, None)
        if loader is None:
            continue
        for ds in _datasets(loader.get('dataset', None)):
            ds['data_root'] = data_root
    for key in _EVALUATORS:
        ev = cfg.get(key, None)
        for item in (ev if isinstance(ev, list) else [ev]):
            if item is None or 'ann_file' not in item:
                continue
            if old and item['ann_file'].startswith(old):
                item['ann_file'] = data_root + item['ann_file'][len(old):]
    cfg.data_root = data_root


def adapt_cfg_to_device(cfg: Any,
                        launcher: str,
                        cuda: Optional[bool] = None) -> None:
    """Make a GPU config run distributed on CPU processes.

    Without CUDA, mmengine's default DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules; we ask
    for ``device_ids=None`` (unless the config chose a wrapper itself)
    with the other settings mmengine's default uses on GPUs
    (``broadcast_buffers=False``, the config's ``find_unused_parameters``):
    with torch's default ``broadcast_buffers=True`` rank 0's buffers would
    overwrite every rank's at each forward on CPU only, hiding per-rank
    drift of the losses' state that GPU runs would have. On CUDA machines
    the config is left untouched.
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if launcher == 'none' or cuda:
        return
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel'):
        wrapper['device_ids'] = None
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'


def load_tool_config(args: Any) -> Any:
    """The config of ``tools/train.py`` or ``tools/test.py`` after the
    options both share: ``config``, ``launcher``, ``cfg_options``,
    ``data_root`` and ``work_dir`` (default ``./work_dirs/<config
    name>``)."""
    import os.path as osp

    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg
