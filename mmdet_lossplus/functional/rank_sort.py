"""Rank & Sort loss value and error-driven update, exact, sort-based.

Oksuz et al., "Rank & Sort Loss for Object Detection and Instance
Segmentation", ICCV 2021, https://arxiv.org/abs/2107.11669; conventions of
the authors' code (``kemaloksuz/RankSortLoss``,
``mmdet/models/losses/ranking_losses.py``).

Every entry is a binary example with a score ``s`` and a label (1 positive,
0 negative, -1 ignored); each positive ``i`` has a continuous target
``y_i`` in ``(0, 1]`` (the IoU of its predicted box). With ``H`` the step of
:mod:`.ranking` (``delta``: the paper's ``delta_RS = 0.5``; 0 gives the hard
step ``[x >= 0]``), for a positive ``i``:

* ``rank+(i) = sum_{k in P} H(s_k - s_i)``: the positive counts itself with
  ``H(0)`` (1/2, or 1 for the hard step), as the authors' code does (the
  paper writes the rank among positives with the self term 1);
* ``fp(i) = sum_{j in N} H(s_j - s_i)``, ``rank(i) = rank+(i) + fp(i)``;
* ranking error ``fp(i) / rank(i)`` (paper eq. 7; its target is 0);
* current sorting error ``sum_{k in P} H(s_k - s_i) (1 - y_k) / rank+(i)``;
  target sorting error, the same over the positives with ``y_k >= y_i``
  only (eq. 8); sorting error = current - target (>= 0: the removed terms
  have the larger ``1 - y_k``).

Losses: the means of both errors over the positives. Update (the
gradient the authors back-propagate, divided by ``|P|``):

* ranking: when ``fp(i) > 1e-10``, positive ``i`` gets ``-fp(i)/rank(i)``
  and each negative ``j`` gets ``H(s_j - s_i) / rank(i)`` (the error spread
  by ``H(s_j - s_i) / fp(i)``); otherwise ``i`` sends nothing;
* sorting: when ``m(i) = sum_{k in P, y_k < y_i} H(s_k - s_i) > 1e-10``,
  positive ``i`` gets minus its sorting error and each positive ``k`` with
  ``y_k < y_i`` gets ``sorting error(i) H(s_k - s_i) / m(i)``.

Both updates sum to zero. Negatives below ``min positive score - delta``
have ``H = 0`` against every positive and are dropped (as the authors').
The authors loop over positives (O(P*N)); here the negatives' sums come
from the sorted positives (:mod:`.ranking`) and the sums over positives of
lower (or higher) target from a merge-sort tree (:mod:`.prefix_ranking`);
the sorting error is computed from the lower-target sums, so it is exactly
0, not a rounding residue, when they vanish:
O(N log P + P log^2 P) time, O(N + P) memory, float64 accumulation.

Distributed use: the functions take the *global* positives (scores and
targets) and a ``reduce_sum`` for the per-positive false-positive counts,
as :func:`~.ap_loss.ap_loss_with_update`; this module never communicates.
"""
from typing import Callable, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .prefix_ranking import prefix_step_sums
from .ranking import (check_step_delta, rank_negatives, ranking_inputs,
                      scatter_sorted, step_count_above,
                      weighted_step_sum_above)
from .torch_compat import device_scalar

# The authors' thresholds below which a positive sends no update.
RANKING_EPS = 1e-10
SORTING_EPS = 1e-10


class RankSortResult(NamedTuple):
    """Outputs of :func:`rank_sort_with_update`.

    Attributes:
        ranking_loss: 0-dim float64, mean ranking error (0 without
            positives).
        sorting_loss: 0-dim float64, mean sorting error.
        ranking_update: Shaped like the input scores (float64 for float64
            scores, else float32): the ranking part of the update of every
            entry (0 for ignored entries and pruned negatives).
        sorting_update: ``[P_local]`` the sorting part of the update of
            this process's positives, in ``pos_idx`` order (negatives get
            none).
        num_pos: 0-dim float64, number of positives ranked (global).
        pos_idx: ``[P_local]`` positions of this process's positives (the
            order of ``sorting_update``).
    """
    ranking_loss: Tensor
    sorting_loss: Tensor
    ranking_update: Tensor
    sorting_update: Tensor
    num_pos: Tensor
    pos_idx: Tensor


def _sorting_errors(s: Tensor, t: Tensor,
                    delta: float) -> Tuple[Tensor, Tensor, Tensor]:
    """``(rank among positives, missorted mass, sorting error)``, each
    ``[P]``, of the positives with scores ``s`` (ascending) and targets
    ``t``.

    Sums over positives: all of them, and over the "missorted" ones of
    lower target (a prefix in increasing-target order). The sorting error
    is written through the latter, so that it is exactly 0 when they
    contribute nothing (no cancellation of current - target).
    """
    ones = torch.ones_like(s)
    rank_pos = step_count_above(s, s, delta)
    err_all = weighted_step_sum_above(s, 1.0 - t, s, delta)
    by_target = torch.sort(t, stable=True)
    lower = torch.searchsorted(by_target.values, t, right=False)
    below_me = prefix_step_sums(
        s[by_target.indices],
        torch.stack([ones, 1.0 - by_target.values], 1),
        lower,
        s,
        delta,
        above=True)
    missorted, err_missorted = below_me[:, 0], below_me[:, 1]
    kept = rank_pos - missorted  # targets >= y_i, self included: >= H(0)
    sorting_error = (err_missorted * kept -
                     (err_all - err_missorted) * missorted) / (
                         rank_pos * kept)
    return rank_pos, missorted, sorting_error


def _sorting_updates(s: Tensor, t: Tensor, sorting_error: Tensor,
                     missorted: Tensor, sorts: Tensor, delta: float) -> Tensor:
    """``[P]`` sorting update of the positives (sorted by score): positive
    k receives the sum over i with y_i > y_k of sorting_error(i)
    H(s_k - s_i) / m(i) (a prefix: targets > y_k) and sends its own
    error when it sorts (``sorts``)."""
    zeros = torch.zeros_like(sorting_error)
    coef = torch.where(sorts, sorting_error / missorted.clamp_min(1e-300),
                       zeros)
    by_target_desc = torch.sort(-t, stable=True)
    higher = torch.searchsorted(by_target_desc.values, -t, right=False)
    received = prefix_step_sums(
        s[by_target_desc.indices],
        coef[by_target_desc.indices][:, None],
        higher,
        s,
        delta,
        above=False)[:, 0]
    return received - torch.where(sorts, sorting_error, zeros)


def rank_sort_with_update(scores: Tensor,
                          labels: Tensor,
                          pos_targets: Tensor,
                          delta: float = 0.5,
                          all_pos_scores: Optional[Tensor] = None,
                          all_pos_targets: Optional[Tensor] = None,
                          pos_offset: int = 0,
                          reduce_sum: Optional[Callable[[Tensor],
                                                        Tensor]] = None,
                          pos_idx: Optional[Tensor] = None) -> RankSortResult:
    """Rank & Sort loss and its update for flat scores.

    Args:
        scores: ``[M]`` scores (logits) of this process's entries.
        labels: ``[M]`` int labels: 1 positive, 0 negative, -1 ignored.
        pos_targets: ``[P_local]`` targets in ``(0, 1]`` of this process's
            positives, in the order they appear in ``scores``.
        delta: Half-width of the step's ramp, >= 0 (paper: 0.5).
        all_pos_scores: ``[P_global]`` scores of the positives of every
            process (this one's as the block starting at ``pos_offset``);
            None: this process alone.
        all_pos_targets: ``[P_global]`` their targets, same order.
        pos_offset: Where this process's positives start in the global
            arrays.
        reduce_sum: Sums a ``[P_global]`` float64 tensor over processes.
        pos_idx: Positions of this process's positives, ascending; None
            selects them here (one host round-trip).

    Returns:
        :class:`RankSortResult`.
    """
    check_step_delta(delta)
    inputs = ranking_inputs(scores, labels, pos_idx, all_pos_scores,
                            pos_targets, all_pos_targets)
    ranking_update, pos_idx = inputs.update, inputs.pos_idx
    out_dtype = ranking_update.dtype
    p = inputs.all_pos.numel()
    if p == 0:
        zero = ranking_update.new_zeros((), dtype=torch.float64)
        return RankSortResult(zero, zero, ranking_update,
                              ranking_update.new_zeros(0), zero, pos_idx)
    assert inputs.all_values is not None  # given above
    ranked = rank_negatives(inputs, delta, reduce_sum)
    s, fp = ranked.pos_sorted, ranked.fp
    t = inputs.all_values[ranked.order]

    rank_pos, missorted, sorting_error = _sorting_errors(s, t, delta)
    rank = rank_pos + fp
    ranking_error = fp / rank
    ranks = fp > RANKING_EPS
    sorts = missorted > SORTING_EPS

    # Ranking part: negatives receive sum_i H(s_j - s_i) / rank(i).
    neg_coef = torch.where(ranks, 1.0 / rank, torch.zeros_like(rank))
    ranked.write_negative_sums(neg_coef / p, ranking_update)
    pos_rank = torch.where(ranks, -ranking_error, torch.zeros_like(rank))

    pos_sort = _sorting_updates(s, t, sorting_error, missorted, sorts, delta)

    n_local = pos_idx.numel()
    mine = slice(pos_offset, pos_offset + n_local)
    ranking_update[pos_idx] = (scatter_sorted(pos_rank, ranked.order)[mine] /
                               p).to(out_dtype)
    sorting_update = (scatter_sorted(pos_sort, ranked.order)[mine] /
                      p).to(out_dtype)
    return RankSortResult(
        ranking_error.mean(), sorting_error.mean(), ranking_update,
        sorting_update,
        device_scalar(p, ranking_error.dtype, ranking_error.device), pos_idx)
