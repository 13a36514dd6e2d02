"""``SkippedStepRollbackHook``: a training step that the loss scaler of
mixed-precision training skips leaves the losses' running state as it was.

Under fp16 autocast mmengine's ``AmpOptimWrapper`` steps through a
``GradScaler``: when a gradient is not finite at the current loss scale,
the optimizer step is skipped and the scale lowered. The losses have
already updated their state in the forward (GHM's EMA of the bin counts,
aLRP's running sums and self-balancing weight) from a batch whose step
never happened. This hook snapshots that state before every iteration and
restores it when the scaler reports a skipped step, on every rank alike
(the gradients, hence the scaler's verdict, are the same on every rank
after DDP's all-reduce).
"""
from typing import Any, List, Optional, Tuple

import torch
from mmengine.hooks import Hook
from torch import Tensor

from ..losses.contract import BatchStatsLoss
from ..registry import HOOKS
from .loss_inputs import bare_model
from .loss_state_check import stateful_losses


def loss_scalers(optim_wrapper: Any) -> List[Any]:
    """The ``GradScaler`` of an optimizer wrapper (or of each wrapper of an
    ``OptimWrapperDict``); empty without mixed precision."""
    wrappers = optim_wrapper.values() if hasattr(optim_wrapper, 'values') \
        else [optim_wrapper]
    return [
        w.loss_scaler for w in wrappers
        if getattr(w, 'loss_scaler', None) is not None
    ]


class _FoundInfRecorder:
    """Wraps a ``GradScaler``'s ``update`` (on the instance) to keep, as a
    device tensor, whether the step just taken found a non-finite gradient
    (``update`` clears the scaler's per-step record)."""

    def __init__(self, scaler: Any) -> None:
        self.scaler, self.found = scaler, None
        self.original = scaler.update

        def update(*args, **kwargs):
            flags = [
                flag.reshape(()).float()
                for state in scaler._per_optimizer_states.values()
                for flag in state.get('found_inf_per_device', {}).values()
            ]
            if flags:
                self.found = torch.stack(
                    [f.to(flags[0].device) for f in flags]).sum() > 0
            return self.original(*args, **kwargs)

        scaler.update = update

    def take(self) -> Optional[Tensor]:
        found, self.found = self.found, None
        return found


@HOOKS.register_module()
class SkippedStepRollbackHook(Hook):
    """Restore the losses' running state after a step the loss scaler
    skipped (mixed precision with ``GradScaler``; nothing to do without).

    Cost per iteration with a scaler: a copy of each stateful loss's state
    (a few dozen numbers) and one read of the scaler's verdict, which the
    scaler itself has already read to decide the step.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._recorders: List[_FoundInfRecorder] = []
        self._snapshots: List[Tuple[BatchStatsLoss, Any]] = []

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        scalers = loss_scalers(runner.optim_wrapper)
        known = [r.scaler for r in self._recorders]
        for scaler in scalers:
            if not any(scaler is k for k in known):
                self._recorders.append(_FoundInfRecorder(scaler))
        if not self._recorders:
            self._snapshots = []
            return
        self._snapshots = [
            (m, m.state_snapshot())
            for _, m in stateful_losses(bare_model(runner.model))
        ]

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        found = [
            f for f in (r.take() for r in self._recorders) if f is not None
        ]
        if not found or not self._snapshots:
            return
        if not bool(torch.stack(found).any()):  # the one host read
            return
        for module, snapshot in self._snapshots:
            module.restore_state(snapshot)
        runner.logger.warning(
            f'iteration {runner.iter + 1}: the loss scaler skipped the '
            'optimizer step (a non-finite gradient); the running state of ' +
            ', '.join(type(m).__name__ for m, _ in self._snapshots) +
            ' is restored to what it was before the iteration')
        self._snapshots = []
