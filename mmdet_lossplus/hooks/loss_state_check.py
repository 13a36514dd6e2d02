"""``LossStateCheckHook``: the losses' running state must be identical on
every rank; check it cheaply and stop with a clear error if it is not."""
from typing import List, Tuple

import torch
from mmengine.hooks import Hook
from torch import Tensor, nn

from .. import dist
from ..checks import check_int, check_number
from ..losses.contract import BatchStatsLoss
from ..registry import HOOKS
from .loss_inputs import bare_model


def stateful_losses(model: nn.Module) -> List[Tuple[str, BatchStatsLoss]]:
    """``(name, module)`` of every loss that declares running state (GHM's
    EMA, aLRP's self-balance: ``traits().stateful``), in a fixed order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, BatchStatsLoss) and m.traits().stateful]


def _state(loss: BatchStatsLoss) -> Tensor:
    vector = loss.state_vector()
    if vector is None:
        raise TypeError(f'{type(loss).__name__} declares state but its '
                        'state_vector() returned None')
    return vector


def state_spread(local: Tensor) -> Tensor:
    """Largest ``max_r x_r - min_r x_r`` over the entries of the losses'
    state vectors (concatenated, float64): 0 exactly when every rank holds
    the same values. One all-reduce (MAX of ``[x, -x]``); 0 in one
    process.

    Exact at any world size: a float mean (sum / W) of W identical values
    is not always that value (with W = 3, 6, 8, about 16 %, 31 % and 43 %
    of random doubles come back different), MAX and MIN are.
    """
    if local.numel() == 0:
        return local.new_zeros(())
    both = dist.all_reduce_max(torch.cat([local, -local]))
    n = local.numel()
    return (both[:n] + both[n:]).max()


def deferred_failures(model: nn.Module,
                      device: torch.device) -> Tuple[Tensor, List[str]]:
    """``([L] int64 counts, messages)``: per loss of the model (every
    :class:`BatchStatsLoss`, in a fixed order: the same vector length on
    every rank) the calls whose deferred input checks failed since the
    last read, and the messages of those checks on this rank."""
    counts, messages = [], []
    for name, m in model.named_modules():
        if isinstance(m, BatchStatsLoss):
            count, texts = m.take_failures(device)
            counts.append(count.reshape(1))
            messages += [f'{name}: {t}' for t in texts]
    if not counts:
        return torch.zeros(0, dtype=torch.int64, device=device), messages
    return torch.cat(counts), messages


@HOOKS.register_module()
class LossStateCheckHook(Hook):
    """Every ``interval`` training iterations, compare the running state of
    the losses (GHM's EMA of bin counts and update counts) across ranks.

    Our losses keep it identical by construction (every rank updates from
    the same all-reduced histogram); a difference means something broke
    that (a loss with ``scope='local'``, a rank that skipped an
    update, a partial checkpoint load). Cost: one MAX all-reduce of the
    state and its negation (a few dozen numbers) and one of the corruption
    count; nothing in one process.

    It also reads the input checks that losses without a host read of
    their own (GHM-C) defer on accelerators: a bad label there is a
    ``ValueError`` on every rank at the next check, not a device-side
    assertion at the call (on CPU it raises at the call).

    Raises:
        RuntimeError: on every rank (the flags are reduced), naming the
            iteration, the losses and the largest spread across ranks.
        ValueError: on every rank when a deferred input check failed on
            any rank since the last check, naming the losses and checks.

    Args:
        interval: Iterations between checks.
        atol: Allowed spread ``max - min`` of any entry over ranks (0:
            bitwise identical).
    """
    priority = 'LOW'

    def __init__(self, interval: int = 50, atol: float = 0.0) -> None:
        check_int('interval', interval, 1)
        check_number('atol', atol, low=0)
        self.interval = interval
        self.atol = float(atol)

    def check(self, model: nn.Module, iteration: int) -> float:
        """Check now; returns the spread across ranks (the same on every
        rank) or raises.

        The state must be finite and non-negative (checked in one process
        too) and, in a distributed run, identical on every rank.
        """
        bare = bare_model(model)
        tensors = [*bare.parameters(), *bare.buffers()]
        # the model's device: NCCL cannot reduce CPU tensors
        device = tensors[0].device if tensors else torch.device('cpu')
        failed, messages = deferred_failures(bare, device)
        losses = stateful_losses(bare)
        if not losses and not failed.numel():
            return 0.0
        local = torch.cat([_state(m).reshape(-1).double()
                           for _, m in losses]) if losses else torch.zeros(
                               0, dtype=torch.float64, device=device)
        corrupt = (~torch.isfinite(local)) | (local < 0)
        # corrupted entries (NaN) would spoil the spread: zero them there,
        # the corruption count says it instead
        spread = state_spread(torch.where(corrupt, 0.0, local))
        flags = dist.all_reduce_sum(
            torch.cat([
                corrupt.sum().double().reshape(1).to(device),
                failed.double()
            ]))
        # once per interval: host reads are fine here
        n_bad, *n_failed = flags.tolist()
        if any(n_failed):
            raise ValueError(
                f'invalid loss inputs before iteration {iteration}: '
                f'{int(sum(n_failed))} call(s) over all ranks failed an '
                'input check (read here, not at the call, on accelerators); '
                'the checks made: ' +
                ('; '.join(messages) if messages else 'on another rank'))
        if n_bad > 0:
            raise RuntimeError(
                f'loss state is corrupted at iteration {iteration} '
                f'(non-finite or negative values: {int(n_bad)} '
                f'entries over all ranks, {int(corrupt.sum())} on this '
                f'rank) in: {self._names(losses)}.')
        value = spread.item()
        if not value <= self.atol:
            raise RuntimeError(
                f'loss state differs across ranks at iteration {iteration} '
                f'(largest spread max - min over ranks {value:.3g}, '
                f'allowed {self.atol}) in: {self._names(losses)}. Every '
                'rank must update it from the same global statistics '
                '(scope=\'global\') and load the same checkpoint.')
        return value

    def before_train(self, runner) -> None:
        for m in bare_model(runner.model).modules():
            if isinstance(m, BatchStatsLoss):
                m.expect_checks_read()

    @staticmethod
    def _names(losses: List[Tuple[str, BatchStatsLoss]]) -> str:
        return ', '.join(n for n, _ in losses)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self.check(runner.model, runner.iter + 1)
