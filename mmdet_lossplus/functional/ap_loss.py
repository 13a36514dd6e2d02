"""AP-loss value and error-driven update, exact, in O((P+N) log(P+N)).

Chen et al., "Towards Accurate One-Stage Object Detection with AP-Loss",
CVPR 2019, https://arxiv.org/abs/1904.06373 (and its TPAMI extension).

Every entry is a binary example with a score ``s`` and a label (1 positive,
0 negative, -1 ignored). With ``H`` the linear step of half-width ``delta``
(:func:`~.ranking.step_h`), for a positive ``i``:

* ``rank+(i) = 1 + sum_{k in P, k != i} H(s_k - s_i)``
* ``fp(i)    = sum_{j in N} H(s_j - s_i)``
* ``prec(i)  = rank+(i) / (rank+(i) + fp(i))``
* ``p^(i)    = max prec(k)`` over positives ``k`` with ``s_k <= s_i``
  (interpolated precision)

``loss = 1 - mean_i p^(i)``. The error-driven update, used as the gradient
of the loss with respect to the scores, is ``-(1 - p^(i)) / |P|`` for a
positive and ``(1/|P|) sum_i w_i H(s_j - s_i) / (rank+(i) + fp(i))`` for a
negative, with ``w_i = (1 - p^(i)) / (1 - prec(i))`` where interpolation
raised the precision and 1 elsewhere. The update sums to zero.

The public implementations loop over positives (O(P*N)); here every sum is
computed with :mod:`.ranking` from the sorted positives only (float64 prefix
sums, one binary search per negative among the positives' ramp edges,
per-interval sums): O(P log P + N log P) time, O(P + N) memory, and the
many negatives are never sorted.
Negatives below ``min positive score - delta`` have ``H = 0`` against every
positive and count nowhere.

Distributed use: the functions take the *global* positives' scores and a
``reduce_sum`` callable for the per-positive false-positive counts, so a
caller can rank every positive against the negatives of all processes while
sending only O(P) numbers. This module itself never communicates.
"""
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from .ranking import (check_step_delta, pruning_threshold, rank_negatives,
                      ranking_inputs, step_count_above)
from .torch_compat import device_scalar

__all__ = [
    'APLossResult', 'ap_loss_with_update', 'check_delta', 'pruning_threshold'
]


class APLossResult(NamedTuple):
    """Outputs of :func:`ap_loss_with_update`.

    Attributes:
        loss: 0-dim float64, ``1 - mean interpolated precision`` (0 when
            there is no positive).
        update: Shaped like the input scores, float64 for float64 scores
            and float32 otherwise: the error-driven update of every entry
            (0 for ignored entries).
        num_pos: 0-dim float64, number of positives ranked (global).
        interp_prec: ``[P_global]`` float64 interpolated precision of every
            positive, in the order of ``all_pos_scores``.
    """
    loss: Tensor
    update: Tensor
    num_pos: Tensor
    interp_prec: Tensor


def check_delta(delta: float) -> None:
    """AP-loss needs the linear step: ``delta`` finite and > 0."""
    check_step_delta(delta, allow_zero=False)


def ap_loss_with_update(scores: Tensor,
                        labels: Tensor,
                        delta: float = 1.0,
                        all_pos_scores: Optional[Tensor] = None,
                        pos_offset: int = 0,
                        reduce_sum: Optional[Callable[[Tensor],
                                                      Tensor]] = None,
                        pos_idx: Optional[Tensor] = None) -> APLossResult:
    """AP-loss and its error-driven update for flat scores.

    Args:
        scores: ``[M]`` scores (logits) of this process's entries.
        labels: ``[M]`` int labels: 1 positive, 0 negative, -1 ignored.
        delta: Half-width of the linear step, > 0 (paper: 1).
        all_pos_scores: ``[P_global]`` scores of the positives of every
            process (this one's included, as the contiguous block starting
            at ``pos_offset``, in the order they appear in ``scores``).
            None means this process alone.
        pos_offset: Where this process's positives start in
            ``all_pos_scores``.
        reduce_sum: Sums a ``[P_global]`` float64 tensor over processes;
            None means the identity.
        pos_idx: Positions of this process's positives (``labels == 1``),
            ascending; None selects them here (one host round-trip).

    Returns:
        :class:`APLossResult`.
    """
    check_delta(delta)
    inputs = ranking_inputs(scores, labels, pos_idx, all_pos_scores)
    flat, update, pos_idx = inputs.flat, inputs.update, inputs.pos_idx
    num_pos = inputs.all_pos.numel()
    if num_pos == 0:
        # num_pos is global, so every process returns here together and
        # none is left waiting in reduce_sum.
        zero = flat.new_zeros((), dtype=torch.float64)
        return APLossResult(zero, update, zero, zero.new_zeros(0))

    # Pruning: a negative at or below min positive - delta has H = 0
    # against every positive: it changes neither fp nor its own (zero)
    # update (see pruning_threshold). Each kept negative is placed once
    # among the positives' ramp edges; the negatives are never sorted.
    ranked = rank_negatives(inputs, delta, reduce_sum)
    pos_sorted, order, fp = ranked.pos_sorted, ranked.order, ranked.fp
    # H(0) = 1/2 is the self term, removed from the positives' sum.
    rank_pos = 0.5 + step_count_above(pos_sorted, pos_sorted, delta)
    denom = rank_pos + fp
    prec = rank_pos / denom
    # Interpolated precision: max over positives scoring <= s_i, ties
    # included (the last index with a score <= s_i).
    best = torch.cummax(prec, 0).values
    last = torch.searchsorted(pos_sorted, pos_sorted, right=True) - 1
    interp = best[last]
    raised = interp > prec
    w = torch.where(raised, (1.0 - interp) / (1.0 - prec).clamp_min(1e-300),
                    torch.ones_like(prec))
    coef = w / denom

    loss = 1.0 - interp.mean()
    # Negatives: (1/|P|) sum_i coef_i H(s_j - s_i).
    ranked.write_negative_sums(coef / num_pos, update)
    # Positives: -(1 - p^(i)) / |P|, back in input order.
    interp_in_order = torch.empty_like(interp)
    interp_in_order[order] = interp
    mine = interp_in_order[pos_offset:pos_offset + pos_idx.numel()]
    update[pos_idx] = (-(1.0 - mine) / num_pos).to(update.dtype)
    return APLossResult(loss, update,
                        device_scalar(num_pos, loss.dtype, loss.device),
                        interp_in_order)
