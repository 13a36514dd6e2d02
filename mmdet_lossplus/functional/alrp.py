"""aLRP loss: classification value, error-driven update and the
localisation part, exact, sort-based.

Oksuz et al., "A Ranking-based, Balanced Loss Function Unifying
Classification and Localisation in Object Detection", NeurIPS 2020,
https://arxiv.org/abs/2009.13592; conventions of the authors' code
(``kemaloksuz/aLRPLoss``: ``mmdet/models/losses/ranking_losses.py`` and
``dense_heads/alrp_loss_retina_head.py``).

Entries are binary examples (label 1 positive, 0 negative, -1 ignored) with
scores ``s``; each positive ``i`` also has a localisation error
``l_i >= 0`` (the authors': the GIoU loss ``1 - GIoU`` of its box, which
already is the paper's ``(1 - GIoU) / 2 / (1 - tau)`` with ``tau = 0.5``).
With ``H`` the step of :mod:`.ranking` (``delta = 1``; 0: hard step):

* ``rank+(i) = 1 + sum_{k in P, k != i} H(s_k - s_i)`` (self excluded),
  ``fp(i) = sum_{j in N} H(s_j - s_i)``, ``rank(i) = rank+(i) + fp(i)``;
* classification loss ``1 - mean_i rank+(i) / rank(i)``;
* update (what the authors back-propagate into the scores, over ``|P|``):
  when ``fp(i) > 1e-5``, positive ``i`` gets
  ``-e(i)`` with ``e(i) = (fp(i) + sum_{k in P, k != i} H(s_k - s_i) l_k) /
  rank(i)`` (its LRP error without its own localisation term, which no
  ranking can change) and each negative ``j`` gets
  ``e(i) H(s_j - s_i) / fp(i)``; otherwise ``i`` sends nothing. The update
  sums to zero.
* localisation loss ``mean_i (sum_{k: s_k >= s_i} l_k) / rank(i)`` with
  ``rank`` a constant: the authors take the cumulative sum in descending
  score order (``argsort`` + ``flip``, arbitrary among equal scores); here
  every positive scoring at least ``s_i`` counts, so tied positives
  (measure zero in training) do not depend on their order. Its gradient
  with respect to ``l_k`` is ``(1/|P|) sum_{i: s_i <= s_k} 1 / rank(i)``,
  returned as ``loc_weights``.

The self-balancing weight of the localisation part (the paper's SB) is
state and lives in the module (:class:`~mmdet_lossplus.aLRPLoss`).
O(N log P + P log P) time, O(N + P) memory, float64 accumulation; the
distributed contract is :func:`~.ap_loss.ap_loss_with_update`'s, with the
positives' localisation errors gathered alongside their scores.
"""
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from .ranking import (check_step_delta, rank_negatives, ranking_inputs,
                      scatter_sorted, step_count_above,
                      weighted_step_sum_above)
from .torch_compat import cumsum0, device_scalar

# The authors' threshold on fp(i) below which a positive sends no update.
ALRP_EPS = 1e-5


class ALRPResult(NamedTuple):
    """Outputs of :func:`alrp_with_update`.

    Attributes:
        cls_loss: 0-dim float64, ``1 - mean precision`` (0 without
            positives).
        loc_loss: 0-dim float64, the localisation part before the
            self-balancing weight.
        update: Shaped like the input scores (float64 for float64 scores,
            else float32): the classification update of every entry.
        loc_weights: ``[P_local]`` float64 ``d loc_loss / d l_k`` of this
            process's positives (in ``pos_idx`` order).
        num_pos: 0-dim float64, number of positives (global).
    """
    cls_loss: Tensor
    loc_loss: Tensor
    update: Tensor
    loc_weights: Tensor
    num_pos: Tensor


def alrp_with_update(scores: Tensor,
                     labels: Tensor,
                     loc_errors: Tensor,
                     delta: float = 1.0,
                     all_pos_scores: Optional[Tensor] = None,
                     all_loc_errors: Optional[Tensor] = None,
                     pos_offset: int = 0,
                     reduce_sum: Optional[Callable[[Tensor], Tensor]] = None,
                     pos_idx: Optional[Tensor] = None) -> ALRPResult:
    """aLRP loss parts and the classification update for flat scores.

    Args:
        scores: ``[M]`` scores (logits) of this process's entries.
        labels: ``[M]`` int labels: 1 positive, 0 negative, -1 ignored.
        loc_errors: ``[P_local]`` localisation errors of this process's
            positives, in the order they appear in ``scores``.
        delta: Half-width of the step's ramp, >= 0 (paper: 1).
        all_pos_scores: ``[P_global]`` every process's positives' scores
            (this one's as the block starting at ``pos_offset``); None:
            this process alone.
        all_loc_errors: ``[P_global]`` their localisation errors.
        pos_offset, reduce_sum, pos_idx: as
            :func:`~.ap_loss.ap_loss_with_update`.

    Returns:
        :class:`ALRPResult`.
    """
    check_step_delta(delta)
    inputs = ranking_inputs(scores, labels, pos_idx, all_pos_scores,
                            loc_errors, all_loc_errors)
    update, pos_idx = inputs.update, inputs.pos_idx
    out_dtype = update.dtype
    p = inputs.all_pos.numel()
    if p == 0:
        zero = update.new_zeros((), dtype=torch.float64)
        return ALRPResult(zero, zero, update,
                          update.new_zeros(0, dtype=torch.float64), zero)
    assert inputs.all_values is not None  # given above
    ranked = rank_negatives(inputs, delta, reduce_sum)
    s, fp = ranked.pos_sorted, ranked.fp
    loc = inputs.all_values[ranked.order]
    h0 = 1.0 if delta == 0 else 0.5  # H(0), the self term removed

    rank_pos = 1.0 - h0 + step_count_above(s, s, delta)
    loc_above = weighted_step_sum_above(s, loc, s, delta) - h0 * loc
    rank = rank_pos + fp
    cls_loss = 1.0 - (rank_pos / rank).mean()

    sends = fp > ALRP_EPS
    err = torch.where(sends, (fp + loc_above) / rank, torch.zeros_like(rank))
    neg_coef = torch.where(sends, err / fp.clamp_min(1e-300),
                           torch.zeros_like(rank))
    ranked.write_negative_sums(neg_coef / p, update)

    # d loc_loss / d l_k = (1/|P|) sum over positives scoring <= s_k of
    # 1 / rank(i) (ties included: the last index with a score <= s_k).
    cum = cumsum0(1.0 / rank)
    last = torch.searchsorted(s, s, right=True) - 1
    weights = cum[last] / p
    loc_loss = (weights * loc).sum()

    n_local = pos_idx.numel()
    mine = slice(pos_offset, pos_offset + n_local)
    update[pos_idx] = (scatter_sorted(-err, ranked.order)[mine] /
                       p).to(out_dtype)
    return ALRPResult(cls_loss, loc_loss, update,
                      scatter_sorted(weights, ranked.order)[mine],
                      device_scalar(p, rank.dtype, rank.device))
