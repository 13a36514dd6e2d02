"""Sort-based primitives for ranking losses: sums of a piecewise-linear step.

Ranking losses (AP-loss, aLRP, Rank & Sort) need, for every positive ``i``,
sums such as ``sum_j H(s_j - s_i)`` over negatives and, for every negative
``j``, weighted sums ``sum_i c_i H(s_j - s_i)`` over positives, where

    H(x) = clamp(x / (2 delta) + 1/2, 0, 1)

is the linear step of AP-loss (Chen et al., CVPR 2019, eq. 7). A direct
evaluation is O(P*N). Since H is 0 below ``-delta``, 1 above ``+delta`` and
linear in between, both sums follow exactly from the sorted scores, their
prefix sums and two binary searches per query: O((P + N) log(P + N)) time,
O(P + N) memory. Prefix sums are accumulated in float64.
"""
from typing import Tuple

import torch
from torch import Tensor


def step_h(x: Tensor, delta: float) -> Tensor:
    """``H(x) = clamp(x / (2 delta) + 1/2, 0, 1)`` (elementwise)."""
    return (x / (2.0 * delta) + 0.5).clamp(0.0, 1.0)


def _prefix(values: Tensor) -> Tensor:
    """``[0, v0, v0 + v1, ...]`` in float64 (length ``len(values) + 1``)."""
    out = values.new_zeros(values.numel() + 1, dtype=torch.float64)
    out[1:] = torch.cumsum(values.double(), 0)
    return out


def step_sum_over_sorted(sorted_ref: Tensor, queries: Tensor,
                         delta: float) -> Tensor:
    """``out[q] = sum_j H(ref_j - query_q)`` for every query.

    Args:
        sorted_ref: ``[M]`` reference scores sorted ascending (float64).
        queries: ``[Q]`` query scores (float64).
        delta: Half-width of the linear part of H, > 0.

    Returns:
        ``[Q]`` float64 sums.
    """
    m = sorted_ref.numel()
    if m == 0:
        return queries.new_zeros(queries.shape, dtype=torch.float64)
    csum = _prefix(sorted_ref)
    # ref_j >= q + delta contributes 1; (q - delta, q + delta) is linear.
    hi = torch.searchsorted(sorted_ref, queries + delta, right=False)
    lo = torch.searchsorted(sorted_ref, queries - delta, right=True)
    n_win = (hi - lo).double()
    s_win = csum[hi] - csum[lo]
    return (m - hi).double() + (s_win - n_win * queries) / (2.0 * delta) + \
        0.5 * n_win


def weighted_step_sum_over_sorted(sorted_ref: Tensor, weights: Tensor,
                                  queries: Tensor, delta: float) -> Tensor:
    """``out[q] = sum_i w_i H(query_q - ref_i)`` for every query.

    Note the sign: the queries are the larger side here (a negative's
    score against the positives it outranks).

    Args:
        sorted_ref: ``[M]`` reference scores sorted ascending (float64).
        weights: ``[M]`` weights in the same order (float64).
        queries: ``[Q]`` query scores (float64).
        delta: Half-width of the linear part of H, > 0.

    Returns:
        ``[Q]`` float64 sums.
    """
    if sorted_ref.numel() == 0:
        return queries.new_zeros(queries.shape, dtype=torch.float64)
    cw = _prefix(weights)
    cws = _prefix(weights * sorted_ref)
    # ref_i <= q - delta contributes w_i; (q - delta, q + delta) is linear.
    lo = torch.searchsorted(sorted_ref, queries - delta, right=True)
    hi = torch.searchsorted(sorted_ref, queries + delta, right=False)
    w_win = cw[hi] - cw[lo]
    ws_win = cws[hi] - cws[lo]
    return cw[lo] + (w_win * queries - ws_win) / (2.0 * delta) + \
        0.5 * w_win


def sort_scores(scores: Tensor) -> Tuple[Tensor, Tensor]:
    """Scores in float64 sorted ascending, with the sorting permutation."""
    values, order = torch.sort(scores.double())
    return values, order
