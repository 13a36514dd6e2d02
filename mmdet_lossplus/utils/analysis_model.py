"""A detector and a data loader built from a config for the analysis tools
(``loss_scale``, ``score_separation``, ``ranking_gradient_gap``,
``grad_density``): the same model, weights and batches in every tool.

Loaders run in the calling process (no workers), so a tool's batches
depend only on ``seed``.
"""
from typing import Optional, Tuple, Union

import torch
from mmengine.config import Config
from torch import nn


def load_network_weights(model: nn.Module,
                         checkpoint: str,
                         trust: Optional[bool] = None) -> None:
    """Every network weight of ``checkpoint`` into ``model``, strictly.

    The state of loss modules (``loss_*``: GHM's EMA, aLRP's SB) may differ
    or be absent, so that one run's weights can be measured under another
    loss. Loading follows :func:`checkpoint_loading` (``trust``).

    Raises:
        ValueError: a network key is missing or unexpected.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    from .checkpoint_loading import checkpoint_loading
    with checkpoint_loading(trust):
        state = _load_checkpoint(checkpoint, map_location='cpu')
    state = state.get('state_dict', state)
    # a DDP-wrapped model saved as such
    state = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state.items()
    }
    result = model.load_state_dict(state, strict=False)
    bad = [
        k for k in result.missing_keys + result.unexpected_keys
        if '.loss_' not in k
    ]
    if bad:
        raise ValueError(f'{checkpoint} does not match the model outside '
                         f'its loss modules: {bad[:5]}')


def build_for_analysis(
        config: Union[str, Config],
        checkpoint: Optional[str] = None,
        *,
        seed: int = 0,
        data_root: Optional[str] = None,
        trust: Optional[bool] = None,
        split: str = 'train',
        loader_options: Optional[dict] = None) -> Tuple[nn.Module, object]:
    """``(model, loader)`` of ``config``.

    Args:
        config: a config path or a loaded :class:`Config` (not modified).
        checkpoint: trained weights (:func:`load_network_weights`); ``None``
            initialises the model as training does, from ``seed``.
        seed: seeds the initial weights and the loader (same batches on
            every call with the same seed).
        data_root: replaces the config's data root.
        trust: see :func:`checkpoint_loading`.
        split: ``'train'`` or ``'val'``: which loader of the config.
        loader_options: keys set on that loader's config (e.g.
            ``batch_size``, ``sampler``).

    Returns:
        The model (mode left as built: the caller picks train or eval) and
        the loader.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from mmdet_lossplus.registry import MODELS
    from .config_utils import set_data_root
    if split not in ('train', 'val'):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        Config(config.to_dict())
    if data_root:
        set_data_root(cfg, data_root)
    loader_cfg = cfg[f'{split}_dataloader']
    loader_cfg.num_workers = 0
    loader_cfg.persistent_workers = False
    for key, value in (loader_options or {}).items():
        loader_cfg[key] = value
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        if checkpoint is None:
            model.init_weights()
        else:
            load_network_weights(model, checkpoint, trust)
        torch.manual_seed(seed)
        loader = Runner.build_dataloader(loader_cfg, seed=seed)
    return model, loader
