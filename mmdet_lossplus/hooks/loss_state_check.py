"""``LossStateCheckHook``: the losses' running state must be identical on
every rank; check it cheaply and stop with a clear error if it is not."""
from typing import List, Tuple

import torch
from mmengine.hooks import Hook
from torch import Tensor, nn

from .. import dist
from ..checks import check_int, check_number
from ..losses.contract import loss_traits
from ..registry import HOOKS
from .loss_inputs import bare_model


def stateful_losses(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of every loss that declares running state (our
    GHM losses' EMA, see ``loss_traits``), in a fixed order."""
    return [(name, m) for name, m in model.named_modules()
            if loss_traits(m).stateful]


def state_deviation(local: Tensor) -> Tensor:
    """Largest absolute deviation of this rank's state (the losses' state
    vectors concatenated, float64) from the mean over ranks (one
    all-reduce; 0 in one process)."""
    if local.numel() == 0:
        return local.new_zeros(())
    mean = dist.all_reduce_sum(local) / dist.world_size()
    return (local - mean).abs().max()


@HOOKS.register_module()
class LossStateCheckHook(Hook):
    """Every ``interval`` training iterations, compare the running state of
    the losses (GHM's EMA of bin counts and update counts) across ranks.

    Our losses keep it identical by construction (every rank updates from
    the same all-reduced histogram); a difference means something broke
    that (a loss with ``scope='local'``, a rank that skipped an
    update, a partial checkpoint load). Cost: one all-reduce of the state
    (a few dozen numbers) and one of a flag; nothing in one process.

    Raises:
        RuntimeError: on every rank (the flag is reduced), naming the
            iteration, the losses and the largest deviation.

    Args:
        interval: Iterations between checks.
        atol: Allowed absolute deviation (0: bitwise identical).
    """
    priority = 'LOW'

    def __init__(self, interval: int = 50, atol: float = 0.0) -> None:
        check_int('interval', interval, 1)
        check_number('atol', atol, low=0)
        self.interval = interval
        self.atol = float(atol)

    def check(self, model: nn.Module, iteration: int) -> float:
        """Check now; returns this rank's deviation or raises.

        The state must be finite and non-negative (checked in one process
        too) and, in a distributed run, identical on every rank. A NaN
        deviation counts as a difference.
        """
        losses = stateful_losses(bare_model(model))
        if not losses:
            return 0.0
        local = torch.cat(
            [m.state_vector().reshape(-1).double() for _, m in losses])
        corrupt = (~torch.isfinite(local)) | (local < 0)
        dev = state_deviation(local)  # no collective in one process
        flags = torch.stack(
            [corrupt.any().double(), (~(dev <= self.atol)).double()])
        flags = dist.all_reduce_sum(flags)
        if bool((flags > 0).any()):  # once per interval: a sync is fine
            names = ', '.join(n for n, _ in losses)
            if flags[0] > 0:
                raise RuntimeError(
                    f'loss state is corrupted at iteration {iteration} '
                    f'(non-finite or negative values on '
                    f'{int(flags[0])} rank(s); this rank: '
                    f'{int(corrupt.sum())} bad entries) in: {names}.')
            raise RuntimeError(
                f'loss state differs across ranks at iteration {iteration} '
                f'(this rank deviates from the mean by {dev.item():.3g}, '
                f'allowed {self.atol}) in: {names}. Every rank must update '
                'it from the same global statistics (scope=\'global\') '
                'and load the same checkpoint.')
        return dev.item()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self.check(runner.model, runner.iter + 1)
