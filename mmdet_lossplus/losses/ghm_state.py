"""EMA histogram state shared by GHM-C and GHM-R.

Kept out of the model's strict key set so that mmdet checkpoints (focal-loss
models and mmdet's own GHM models) load strictly into models that use our
GHM losses:

* buffers are non-persistent for torch, and this class writes
  ``acc_sum`` (mmdet's name) and ``ema_steps`` itself when momentum > 0;
* loading accepts checkpoints without them (focal-loss models: the EMA
  starts fresh), with mmdet's ``edges``/``acc_sum`` (mmdet's GHM: the EMA is
  taken over, treated as warmed up) or with ours (exact resume).
"""
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from .. import dist
from ..checks import (check_int, check_loss_weight, check_number,
                      check_reduction)
from ..functional.ghm import (CHUNK, ghm_bin_counts, ghm_density,
                              ghm_ema_update, ghm_weighted_sum, ghm_weights,
                              with_gradient)
from ..functional.scratch import ScratchBuffers
from .contract import BatchStatsLoss, LossTraits

# ema_steps assumed for an EMA loaded from an mmdet checkpoint, which has no
# step count: large enough that bias correction is the identity.
_WARM_STEPS = 1e4


def check_ghm_args(bins: int, momentum: float, loss_weight: float,
                   reduction: str) -> None:
    """Raise ``ValueError``/``TypeError`` naming the offending argument."""
    check_int('bins', bins, 1)
    check_number('momentum', momentum, 0, 1, high_open=True)
    check_loss_weight(loss_weight)
    check_reduction(reduction)


class GHMState(BatchStatsLoss):
    """Bin edges, the per-bin EMA of counts, and the harmonising step.

    Base class of :class:`GHMC` and :class:`GHMR`.

    Args:
        bins: Number of bins.
        momentum: EMA momentum; 0 disables the state.
        bias_correction: Divide the EMA by ``1 - momentum ** steps``.
        scope: ``'global'``: one histogram over all ranks (see
            ``harmonize``); ``'local'``: one per process.
    """

    acc_sum: Tensor  # buffers (typed for the checker)
    ema_steps: Tensor

    def __init__(self, bins: int, momentum: float, bias_correction: bool,
                 scope: str) -> None:
        super().__init__(scope)
        self.bins = bins
        self.momentum = float(momentum)
        self.bias_correction = bool(bias_correction)
        self.last_counts: Optional[Tensor] = None
        # Large per-call temporaries reused between calls on CPU.
        self.scratch = ScratchBuffers()
        self.register_buffer(
            'acc_sum',
            torch.zeros(bins, dtype=torch.float32),
            persistent=False)
        self.register_buffer(
            'ema_steps',
            torch.zeros(bins, dtype=torch.float32),
            persistent=False)

    def traits(self) -> LossTraits:
        return LossTraits(
            reduces_globally=self.global_scope,
            histogram=True,
            stateful=self.momentum > 0)

    def published_histogram(self) -> Optional[Tensor]:
        """The last call's ``[bins]`` counts (all ranks' in global scope)."""
        return self.last_counts

    def state_vector(self) -> Optional[Tensor]:
        """The running state (EMA of counts, updates per bin) as one
        vector, for cross-rank consistency checks; None without momentum.
        """
        if self.momentum <= 0:
            return None
        return torch.cat([self.acc_sum.double(), self.ema_steps.double()])

    def _save_to_state_dict(self, destination: Dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.momentum > 0:
            for name in ('acc_sum', 'ema_steps'):
                buf = getattr(self, name)
                destination[prefix + name] = buf if keep_vars else \
                    buf.detach()

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str,
                              local_metadata: Dict[str, Any], strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        edges = state_dict.pop(prefix + 'edges', None)
        acc = state_dict.pop(prefix + 'acc_sum', None)
        steps = state_dict.pop(prefix + 'ema_steps', None)
        # mmdet stores its M + 1 bin edges; they only tell the bin count.
        if edges is not None and edges.numel() != self.bins + 1:
            error_msgs.append(
                f'{prefix}edges: the checkpoint has {edges.numel() - 1} bins,'
                f' this loss {self.bins}; set bins={edges.numel() - 1}')
        if acc is None and self.momentum > 0:
            # a user fine-tuning from another loss's checkpoint should see it
            print_log(
                f'{prefix or type(self).__name__ + "."}acc_sum: not in the '
                'checkpoint (trained with another loss?): the gradient-'
                'density EMA starts fresh',
                logger='current')
        if acc is not None and self.momentum > 0:
            shape_error = self._shape_error(acc, steps)
            if shape_error:  # a config change: torch/mmengine report it
                error_msgs.append(f'{prefix}{shape_error}')
            else:
                self._check_values(prefix, acc, steps)
                self.acc_sum.copy_(acc)
                if steps is not None:
                    self.ema_steps.copy_(steps)
                else:  # mmdet's GHM keeps no step count
                    self.ema_steps.copy_(
                        torch.where(acc > 0, torch.full_like(acc, _WARM_STEPS),
                                    torch.zeros_like(acc)))
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _shape_error(self, acc: Tensor, steps: Optional[Tensor]) -> str:
        expected = tuple(self.acc_sum.shape)
        for name, value in (('acc_sum', acc), ('ema_steps', steps)):
            if value is not None and tuple(value.shape) != expected:
                return (f'{name}: shape {tuple(value.shape)} in the '
                        f'checkpoint, {expected} expected (bins={self.bins})')
        return ''

    @staticmethod
    def _check_values(prefix: str, acc: Tensor,
                      steps: Optional[Tensor]) -> None:
        """Raise on a corrupted stored state (non-finite or negative
        counts or step counts), whatever the strictness of the load: used
        silently, a NaN makes the loss 0 with zero gradient from then on.
        """
        for name, value in (('acc_sum', acc), ('ema_steps', steps)):
            if value is None:
                continue
            if not torch.isfinite(value).all():
                raise ValueError(
                    f'{prefix}{name} in the checkpoint has non-finite values '
                    f'({value.tolist()}): the GHM state is corrupted')
            if (value < 0).any():
                raise ValueError(
                    f'{prefix}{name} in the checkpoint has negative values '
                    f'({value.tolist()}): the GHM state is corrupted')

    @torch.no_grad()
    def state_snapshot(self) -> Tuple[Tensor, Tensor]:
        return self.acc_sum.clone(), self.ema_steps.clone()

    def restore_state(self, snapshot: Tuple[Tensor, Tensor]) -> None:
        self.assign(*snapshot)

    def assign(self, acc_sum: Tensor, ema_steps: Tensor) -> None:
        """Store a new EMA state in place (buffers keep their identity)."""
        self.acc_sum.copy_(acc_sum)
        self.ema_steps.copy_(ema_steps)

    def harmonize(self, pred: Tensor, elem_loss: Tensor, grad_elem: Tensor,
                  bin_idx: Tensor, tot: Tensor, reduction: str,
                  loss_weight: float) -> Tensor:
        """Weight the per-sample losses by inverse gradient density, reduce.

        The per-bin counts and ``tot`` form one vector of ``bins + 1``
        numbers; in global scope in a distributed run it is summed over
        ranks in one all-reduce, so every rank weights by the density of
        the global mini-batch and keeps the same EMA. The reduced loss is
        then :func:`~mmdet_lossplus.dist.global_value` (a second, scalar
        all-reduce): its value is the global one on every rank, and its
        gradient is scaled by the world size so that DDP's averaging
        yields exactly the single-process gradient on the union of the
        ranks' samples.

        Value and gradient come from the same pass: the value is
        ``sum_i w[bin_i] * loss_i`` (float32 cascade summation) and the
        gradient ``w[bin] * grad_elem``
        (:func:`~mmdet_lossplus.functional.ghm.with_gradient`).

        A call whose loss is not finite (a NaN/inf prediction) leaves the
        EMA untouched, decided on the device without a host sync.

        Args:
            pred: The prediction tensor (graph input).
            elem_loss: Per-sample loss, float32, detached, 0 where invalid;
                overwritten.
            grad_elem: ``d elem_loss / d pred``, float32, detached;
                overwritten by the gradient unless it is a scratch buffer.
            bin_idx: Bins from ``ghm_bin_index`` (``bins`` = invalid).
            tot: 0-dim local normaliser.
            reduction: ``'none'``, ``'mean'`` or ``'sum'``.
            loss_weight: Multiplier.
        """
        m = self.bins
        # one slice of the passes over the samples (reused on CPU)
        chunk = (min(bin_idx.numel(), CHUNK), )
        stats = torch.cat([
            ghm_bin_counts(
                bin_idx, m, None,
                self.scratch.get('ghm_chunk_idx', chunk, torch.int32,
                                 bin_idx.device)),
            tot.reshape(1).double()
        ])
        global_mode = self.global_scope and dist.is_distributed()
        if global_mode:
            stats = dist.all_reduce_sum(stats)
        counts = stats[:m]
        tot_all = stats[m].clamp_min(1.0)  # as mmdet: max(tot, 1)
        # The global histogram of the last call, for hooks to log without
        # recomputing it (not state: never saved, never broadcast).
        self.last_counts = counts.detach()
        density = counts
        if self.momentum > 0:
            # this call's EMA step, computed once: it weights the samples
            # now and is stored below if the loss turns out finite
            acc, steps = ghm_ema_update(self.acc_sum, self.ema_steps, counts,
                                        self.momentum)
            density = ghm_density(counts, acc, steps, self.momentum,
                                  self.bias_correction)
        per_bin = ghm_weights(counts, density, tot_all) * loss_weight
        if reduction == 'mean':
            per_bin = per_bin / tot_all
        if reduction == 'none':
            w = per_bin.float()[bin_idx.long()]
            out = with_gradient(pred, w * elem_loss, w * grad_elem)
            probe = out.detach().sum()
            if global_mode:
                probe = dist.all_reduce_sum(probe)
        else:
            value, grad = ghm_weighted_sum(
                per_bin.float(), bin_idx, elem_loss, grad_elem,
                not self.scratch.reuses(pred.device),
                self.scratch.get('ghm_chunk_w', chunk, torch.float32,
                                 pred.device))
            out = probe = with_gradient(pred, value, grad)
            if global_mode:
                # the convention of ``dist``: global value, gradient scaled
                # by W (free: backward multiplies by the upstream anyway)
                out = probe = dist.global_value(out)
        if self.momentum > 0 and self.training:
            # A non-finite input anywhere makes the (global) reduced loss
            # non-finite: the EMA only takes this call's update when it is
            # finite, on every rank alike, decided without a host sync.
            finite = torch.isfinite(probe.detach())
            self.assign(
                torch.where(finite, acc, self.acc_sum),
                torch.where(finite, steps, self.ema_steps))
        return out

    def extra_repr(self) -> str:
        return (f'bins={self.bins}, momentum={self.momentum}, '
                f'bias_correction={self.bias_correction}, '
                f'scope={self.scope!r}')
