"""EMA histogram state shared by GHM-C and GHM-R.

Kept out of the model's strict key set so that mmdet checkpoints load into
models that use our GHM losses, and ours into mmdet's GHM models:

* buffers are non-persistent for torch, and this class writes
  ``acc_sum`` (mmdet's name) and ``ema_steps`` itself when momentum > 0;
* loading accepts checkpoints without them (focal-loss models: the EMA
  starts fresh), with mmdet's ``edges``/``acc_sum`` (mmdet's GHM: the EMA is
  taken over, treated as warmed up) or with ours (exact resume).
"""
import math
from typing import List, Optional

import torch
from torch import Tensor, nn

from .. import dist
from ..functional.ghm import (ghm_bin_counts, ghm_bin_index, ghm_density,
                              ghm_edges, ghm_ema_update, ghm_weights)

_REDUCTIONS = ('none', 'mean', 'sum')
# ema_steps assumed for an EMA loaded from an mmdet checkpoint, which has no
# step count: large enough that bias correction is the identity.
_WARM_STEPS = 1e4


def check_ghm_args(bins: int, momentum: float, loss_weight: float,
                   reduction: str) -> None:
    """Raise ``ValueError``/``TypeError`` naming the offending argument."""
    if isinstance(bins, bool) or not isinstance(bins, int):
        raise TypeError(f'bins must be an int >= 1, got {bins!r}')
    if bins < 1:
        raise ValueError(f'bins must be an int >= 1, got {bins}')
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f'momentum must be a float in [0, 1), got '
                        f'{momentum!r}')
    if not 0 <= momentum < 1:
        raise ValueError(f'momentum must be in [0, 1), got {momentum}')
    if not isinstance(loss_weight,
                      (int, float)) or not math.isfinite(loss_weight):
        raise ValueError(
            f'loss_weight must be a finite number, got {loss_weight!r}')
    if reduction not in _REDUCTIONS:
        raise ValueError(f'reduction must be one of {_REDUCTIONS}, got '
                         f'{reduction!r}')


def check_reduction_override(reduction_override) -> None:
    if reduction_override not in (None, ) + _REDUCTIONS:
        raise ValueError(
            f'reduction_override must be None or one of {_REDUCTIONS}, got '
            f'{reduction_override!r}')


class GHMState(nn.Module):
    """Bin edges, the per-bin EMA of counts, and the harmonising step.

    Base class of :class:`GHMC` and :class:`GHMR`.

    Args:
        bins: Number of bins.
        momentum: EMA momentum; 0 disables the state.
        last_edge: Upper edge of the last bin.
        bias_correction: Divide the EMA by ``1 - momentum ** steps``.
        global_stats: Sum the histogram over ranks (see ``harmonize``).
    """

    def __init__(self, bins: int, momentum: float, last_edge: float,
                 bias_correction: bool, global_stats: bool) -> None:
        super().__init__()
        self.bins = bins
        self.momentum = float(momentum)
        self.bias_correction = bool(bias_correction)
        self.global_stats = bool(global_stats)
        self.last_counts: Optional[Tensor] = None
        self.register_buffer(
            'edges', ghm_edges(bins, last_edge), persistent=False)
        self.register_buffer(
            'acc_sum',
            torch.zeros(bins, dtype=torch.float32),
            persistent=False)
        self.register_buffer(
            'ema_steps',
            torch.zeros(bins, dtype=torch.float32),
            persistent=False)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.momentum > 0:
            for name in ('acc_sum', 'ema_steps'):
                buf = getattr(self, name)
                destination[prefix + name] = buf if keep_vars else \
                    buf.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        edges = state_dict.pop(prefix + 'edges', None)
        acc = state_dict.pop(prefix + 'acc_sum', None)
        steps = state_dict.pop(prefix + 'ema_steps', None)
        if edges is not None and edges.shape != self.edges.shape:
            error_msgs.append(
                f'{prefix}edges: the checkpoint has {edges.numel() - 1} bins,'
                f' this loss {self.bins}; set bins={edges.numel() - 1}')
        if acc is not None and self.momentum > 0:
            if acc.shape != self.acc_sum.shape:
                error_msgs.append(
                    f'{prefix}acc_sum: shape {tuple(acc.shape)} in the '
                    f'checkpoint, {tuple(self.acc_sum.shape)} expected '
                    f'(bins={self.bins})')
            elif not torch.isfinite(acc).all():
                error_msgs.append(f'{prefix}acc_sum: non-finite values in '
                                  'the checkpoint')
            else:
                self.acc_sum.copy_(acc)
                if steps is not None and steps.shape == acc.shape:
                    self.ema_steps.copy_(steps)
                else:
                    self.ema_steps.copy_(
                        torch.where(acc > 0, torch.full_like(acc, _WARM_STEPS),
                                    torch.zeros_like(acc)))
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @torch.no_grad()
    def assign(self, acc_sum: Tensor, ema_steps: Tensor) -> None:
        """Store a new EMA state in place (buffers keep their identity)."""
        self.acc_sum.copy_(acc_sum)
        self.ema_steps.copy_(ema_steps)

    def harmonize(self, elem_loss: Tensor, g: Tensor, valid: Tensor,
                  tot: Tensor, nonfinite: Tensor, reduction: str) -> Tensor:
        """Weight ``elem_loss`` by the inverse gradient density and reduce.

        With ``global_stats`` in a distributed run the bin counts, ``tot``
        and the non-finite count are summed over ranks in one all-reduce of
        ``bins + 2`` numbers, so every rank uses the density of the global
        mini-batch and keeps the same EMA. The ``'mean'``/``'sum'`` value is
        then the global one on every rank (:func:`dist.global_sum`), and
        after DDP's gradient averaging every gradient equals the
        single-process gradient on the union of the ranks' samples.

        A call whose valid samples include non-finite values leaves the EMA
        untouched (decided on the device, without a host sync); its loss is
        non-finite, as the input.

        Args:
            elem_loss: Per-sample loss (float32).
            g: Gradient norms, same shape.
            valid: Bool mask of samples that count.
            tot: 0-dim local normaliser.
            nonfinite: 0-dim local count of non-finite valid inputs.
            reduction: ``'none'``, ``'mean'`` or ``'sum'``.

        Returns:
            The weighted loss, reduced as asked (not yet times
            ``loss_weight``).
        """
        bin_idx = ghm_bin_index(g, valid, self.edges)
        stats = torch.cat([
            ghm_bin_counts(bin_idx, self.bins),
            tot.reshape(1).double(),
            nonfinite.reshape(1).double()
        ])
        if self.global_stats:
            stats = dist.all_reduce_sum(stats)
        counts, tot_all, bad = stats[:-2], stats[-2], stats[-1]
        # The global histogram of the last call, for hooks to log without
        # recomputing it (not state: never saved, never broadcast).
        self.last_counts = counts.detach()
        tot_all = tot_all.clamp_min(1.0)  # as mmdet: max(tot, 1)
        if self.momentum > 0:
            acc, steps = ghm_ema_update(self.acc_sum, self.ema_steps, counts,
                                        self.momentum, bad == 0)
            if self.training:
                self.assign(acc, steps)
            density = ghm_density(counts, acc, steps, self.momentum,
                                  self.bias_correction)
        else:
            density = counts
        weights = ghm_weights(bin_idx, counts, density, tot_all)
        # where, not a product: an ignored inf/NaN must not leak (0 * inf).
        loss = torch.where(valid, elem_loss * weights, elem_loss.new_zeros(()))
        if reduction == 'none':
            return loss
        total = loss.sum()
        if self.global_stats:
            total = dist.global_sum(total)
        if reduction == 'mean':
            total = total / tot_all.to(total.dtype)
        return total

    def extra_repr(self) -> str:
        return (f'bins={self.bins}, momentum={self.momentum}, '
                f'bias_correction={self.bias_correction}, '
                f'global_stats={self.global_stats}')
