"""Step sums restricted to a prefix of a second order (merge-sort tree).

Rank & Sort loss (Oksuz et al., ICCV 2021) compares each positive only with
the positives whose IoU target is at least (or above) its own. With the
positives listed in decreasing target order, such a set is a prefix of the
list, and the sums needed are, for every query ``q`` with prefix length
``r_q``,

    above:  sum_{k < r_q} w_k H(s_k - s_q)
    below:  sum_{k < r_q} w_k H(s_q - s_k)

with ``H`` the linear step of :mod:`.ranking` (``delta = 0``: hard step).
A direct evaluation is O(P^2). Here a merge-sort tree answers them exactly:
level ``l`` holds the list cut into blocks of ``2^l`` entries, each block
sorted by score, with float64 prefix sums of ``w`` and ``w * s``; a prefix
``[0, r)`` is the union of at most one block per level (the set bits of
``r``), and inside a block the entries beyond ``q + delta`` and within the
ramp are found by binary search. Scores are replaced by their integer rank
among the reference scores, so every level is a single sorted int64 array
(block, rank) searched in one batched call. O(P log^2 P) time, O(P) memory
per level, no Python loop over entries (one over the ``log2 P`` levels).
"""

import torch
from torch import Tensor

from .ranking import inverse_width, ramp_ranges
from .torch_compat import cumsum0


def prefix_step_sums(ref_scores: Tensor, ref_weights: Tensor,
                     prefix_len: Tensor, queries: Tensor, delta: float,
                     above: bool) -> Tensor:
    """Weighted step sums of each query over a prefix of the references.

    Args:
        ref_scores: ``[R]`` float64 scores, in the order whose prefixes
            are queried (e.g. decreasing IoU target).
        ref_weights: ``[R, C]`` float64 weights (C columns summed at once).
        prefix_len: ``[Q]`` int64 in ``[0, R]``: query ``q`` sums over
            references ``0 .. prefix_len[q] - 1``.
        queries: ``[Q]`` float64 query scores.
        delta: Half-width of the step's ramp, >= 0.
        above: True for ``H(s_k - s_q)`` (references above the query
            count 1), False for ``H(s_q - s_k)``.

    Returns:
        ``[Q, C]`` float64 sums.
    """
    r = ref_scores.numel()
    c = ref_weights.shape[1]
    out = queries.new_zeros((queries.numel(), c), dtype=torch.float64)
    if r == 0 or queries.numel() == 0:
        return out
    sorted_ref = torch.sort(ref_scores).values
    rank = torch.searchsorted(sorted_ref, ref_scores)  # #{scores < s_k}
    lo, hi = ramp_ranges(sorted_ref, queries, delta, ties_above=above)
    slope = inverse_width(delta)
    cols = torch.cat([ref_weights, ref_weights * ref_scores[:, None]], 1)
    position = torch.arange(r, device=ref_scores.device)
    span = r + 1  # ranks are in [0, r]: block b's keys lie in [b*span, ...)
    q = queries.numel()
    bounds = torch.cat([lo, hi])
    csum = cols.new_zeros((r + 1, 2 * c))
    level = 0
    while (1 << level) <= r:
        keys, order = torch.sort((position >> level) * span + rank)
        cumsum0(cols[order], out=csum[1:])
        # the prefix [0, prefix_len) uses block (prefix_len >> level) - 1
        # of this level when that bit is set
        use = ((prefix_len >> level) & 1).to(cols.dtype)
        qblock = ((prefix_len >> level) - 1).clamp_min(0)
        start = qblock << level
        end = (start + (1 << level)).clamp_max(r)
        found = torch.searchsorted(keys, qblock.repeat(2) * span + bounds)
        f = csum[torch.cat([start, found, end])].view(4, q, 2 * c)
        f_start, f_lo, f_hi, f_end = f[0], f[1], f[2], f[3]
        ramp_w = f_hi[:, :c] - f_lo[:, :c]
        ramp_ws = f_hi[:, c:] - f_lo[:, c:]
        if above:
            part = (f_end[:, :c] - f_hi[:, :c]) + 0.5 * ramp_w + \
                (ramp_ws - ramp_w * queries[:, None]) * slope
        else:
            part = (f_lo[:, :c] - f_start[:, :c]) + 0.5 * ramp_w + \
                (ramp_w * queries[:, None] - ramp_ws) * slope
        out += part * use[:, None]
        level += 1
    return out
