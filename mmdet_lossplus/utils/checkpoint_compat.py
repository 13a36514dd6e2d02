"""Make mmengine 0.10.7 load its own checkpoints under torch >= 2.6.

torch 2.6 switched ``torch.load`` to ``weights_only=True``. mmengine 0.10.7
calls ``torch.load(file, map_location=...)`` without the argument, so both
``load_from=<model-zoo checkpoint>`` and ``resume=True`` fail with
``UnpicklingError: Weights only load failed`` (the checkpoints pickle
``HistoryBuffer``, numpy scalars, the config...).

We do not touch the global ``torch.load``: only the ``torch`` name seen by
mmengine's checkpoint module and its URL loader is replaced by a proxy whose
``load`` defaults to ``weights_only=False``. Those functions only ever load
files the user names in a config (``load_from``, ``resume``, ``init_cfg``),
which mmengine trusted before torch 2.6 too. Everything else in the process
keeps torch's safe default.
"""
import functools
import types
from typing import Any

import torch

# hub.py only has its own torch.load on torch < 1.7; newer torch routes URL
# loads through torch.hub, whose load_state_dict_from_url already defaults to
# weights_only=False.
_PATCHED_MODULES = (
    'mmengine.runner.checkpoint',
    'mmengine.utils.dl_utils.hub',
)


class _TrustedTorch(types.ModuleType):
    """A stand-in for the ``torch`` module with a trusting ``load``."""

    def __init__(self) -> None:
        super().__init__('torch')

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    @functools.wraps(torch.load)
    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault('weights_only', False)
        return torch.load(*args, **kwargs)


def enable_trusted_checkpoint_loading() -> None:
    """Let mmengine load full checkpoints again (idempotent).

    Called when ``mmdet_lossplus`` is imported, so it applies to our tools
    and to mmdet's own ``tools/train.py`` with ``custom_imports``.
    """
    import importlib
    for name in _PATCHED_MODULES:
        module = importlib.import_module(name)
        if hasattr(module,
                   'torch') and not isinstance(module.torch, _TrustedTorch):
            module.torch = _TrustedTorch()
