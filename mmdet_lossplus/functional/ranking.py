"""Sort-based primitives for ranking losses: sums of a piecewise-linear step.

Ranking losses (AP-loss, aLRP, Rank & Sort) need, for every positive ``i``,
sums such as ``sum_j H(s_j - s_i)`` over negatives and, for every negative
``j``, weighted sums ``sum_i c_i H(s_j - s_i)`` over positives, where

    H(x) = clamp(x / (2 delta) + 1/2, 0, 1)

is the linear step of AP-loss (Chen et al., CVPR 2019, eq. 7); ``delta = 0``
is the hard step ``H(x) = [x >= 0]`` (so ``H(0) = 1``, as the Rank & Sort
authors' code). A direct
evaluation is O(P*N). Since H is 0 below ``-delta``, 1 above ``+delta`` and
linear in between, both sums follow exactly from the sorted scores, their
prefix sums and two binary searches per query: O((P + N) log(P + N)) time,
O(P + N) memory. Prefix sums are accumulated in float64.
"""
from typing import Callable, Iterator, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ..checks import check_number
from .torch_compat import bin_sums, cumsum0


def step_h(x: Tensor, delta: float) -> Tensor:
    """``H(x) = clamp(x / (2 delta) + 1/2, 0, 1)`` (elementwise);
    ``[x >= 0]`` for ``delta = 0``."""
    if delta == 0:
        return (x >= 0).to(x.dtype)
    return (x / (2.0 * delta) + 0.5).clamp(0.0, 1.0)


def inverse_width(delta: float) -> float:
    """``1 / (2 delta)``, the ramp's slope; 0 for the hard step (whose
    ramp ranges are empty, so the slope is never used)."""
    return 0.0 if delta == 0 else 1.0 / (2.0 * delta)


def _prefix(values: Tensor) -> Tensor:
    """``[0, v0, v0 + v1, ...]`` in float64 (length ``len(values) + 1``)."""
    out = values.new_zeros(values.numel() + 1, dtype=torch.float64)
    out[1:] = cumsum0(values.double())
    return out


def step_count_above(sorted_ref: Tensor, queries: Tensor,
                     delta: float) -> Tensor:
    """``out[q] = sum_j H(ref_j - query_q)`` for every query: how many
    references rank above it (softly; :func:`weighted_step_sum_above` with
    unit weights).

    Args:
        sorted_ref: ``[M]`` reference scores sorted ascending (float64).
        queries: ``[Q]`` query scores (float64).
        delta: Half-width of the linear part of H, >= 0.

    Returns:
        ``[Q]`` float64 sums.
    """
    return weighted_step_sum_above(sorted_ref, torch.ones_like(sorted_ref),
                                   queries, delta)


def ramp_ranges(sorted_ref: Tensor,
                queries: Tensor,
                delta: float,
                ties_above: bool = False) -> Tuple[Tensor, Tensor]:
    """Where each query's ramp ``(q - delta, q + delta)`` falls in a
    sorted array: indices ``[lo, hi)``, ``lo <= hi``, with ``[0, lo)`` at
    or below ``q - delta`` and ``[hi, M)`` at or above ``q + delta``.

    Two binary searches per query; every step sum of this package reads
    its ranges here. For the hard step (``delta = 0``) the ramp is empty
    and the entries tied with ``q`` go below (``[0, lo)``) or, with
    ``ties_above``, above (``[hi, M)``): the side where ``H(0) = 1`` for
    the sum at hand.
    """
    lo = torch.searchsorted(sorted_ref, queries - delta, right=True)
    hi = torch.searchsorted(sorted_ref, queries + delta, right=False)
    if ties_above:
        return torch.minimum(lo, hi), hi
    return lo, torch.maximum(hi, lo)


def weighted_step_sum_above(sorted_ref: Tensor, weights: Tensor,
                            queries: Tensor, delta: float) -> Tensor:
    """``out[q] = sum_i w_i H(ref_i - query_q)`` for every query (the
    references above the query count fully; e.g. a positive's positives
    ranked above it, weighted by their errors).

    Args:
        sorted_ref: ``[M]`` reference scores sorted ascending (float64).
        weights: ``[M]`` weights in the same order (float64).
        queries: ``[Q]`` query scores (float64).
        delta: Half-width of the linear part of H, >= 0.

    Returns:
        ``[Q]`` float64 sums.
    """
    if sorted_ref.numel() == 0:
        return queries.new_zeros(queries.shape, dtype=torch.float64)
    cw = _prefix(weights)
    cws = _prefix(weights * sorted_ref)
    lo, hi = ramp_ranges(sorted_ref, queries, delta, ties_above=True)
    w_win = cw[hi] - cw[lo]
    ws_win = cws[hi] - cws[lo]
    return (cw[-1] - cw[hi]) + (ws_win - w_win * queries) * \
        inverse_width(delta) + 0.5 * w_win


def check_step_delta(delta: float, allow_zero: bool = True) -> None:
    """``delta`` must be a finite number, ``>= 0`` (``> 0`` unless
    ``allow_zero``)."""
    check_number('delta', delta, low=0, low_open=not allow_zero)


#: Entries per pass of :class:`RankedNegatives` over the scores: its
#: temporaries (a few float64 and int64 arrays) are bounded by this many
#: entries, not by the batch.
CHUNK = 1 << 20


def _chunks(total: int) -> Iterator[Tuple[int, int]]:
    """``(start, stop)`` of consecutive slices of at most :data:`CHUNK`."""
    return ((i, min(i + CHUNK, total)) for i in range(0, total, CHUNK))


class RankedNegatives:
    """The positives sorted and every kept negative placed among them.

    For ``delta > 0`` each negative is placed once among the ``2P`` ramp
    edges ``s_i - delta``, ``s_i + delta`` of the sorted positives (one
    binary search). Between two consecutive edges every ``H(s_j - s_i)`` is
    either 0, 1 or linear in ``s_j``, so a positive's false-positive count
    follows from the per-interval count and score sum of the negatives
    (two bin sums), and any weighted sum ``sum_i c_i H(s_j - s_i)`` is
    ``A[b_j] + B[b_j] s_j`` with per-interval coefficients built from the
    positives alone (O(P)). H is continuous, so a negative exactly on an
    edge gives the same value in either neighbouring interval. For the
    hard step (``delta = 0``) the edges are the positives themselves and a
    negative's interval is the number of positives at or below it
    (``H(0) = 1``).

    The negatives are not selected: every entry of ``flat`` is placed, a
    slice of :data:`CHUNK` entries at a time, and the entries that are not
    kept negatives (:func:`kept_negatives`: positives, ignored, pruned)
    go to an extra interval that counts nowhere. Per entry only the
    interval index stays (int16 up to 16,383 positives, else int32).

    Args:
        all_pos: ``[P]`` float64 scores of the positives (of every
            process), ``P >= 1``.
        flat: ``[M]`` this process's scores (any float dtype).
        labels: ``[M]`` their labels (1, 0, -1 ignored).
        delta: Half-width of the step's ramp, >= 0.
        reduce_sum: Sums the ``[P]`` counts over processes; None: identity.

    Attributes:
        pos_sorted: ``[P]`` the positives' scores, ascending.
        order: ``[P]`` their positions in ``all_pos``.
        fp: ``[P]`` ``sum_j H(s_j - s_i)`` over the kept negatives of every
            process, in sorted order.
    """

    def __init__(self,
                 all_pos: Tensor,
                 flat: Tensor,
                 labels: Tensor,
                 delta: float,
                 reduce_sum: Optional[Callable[[Tensor], Tensor]] = None):
        self.pos_sorted, self.order = torch.sort(all_pos)
        self.flat, self.delta = flat, delta
        s, p = self.pos_sorted, self.pos_sorted.numel()
        if delta > 0:
            edges, where = torch.sort(torch.cat([s - delta, s + delta]))
            rank = torch.empty_like(where)
            rank[where] = torch.arange(2 * p, device=s.device)
            self.low, self.up = rank[:p], rank[p:]
        else:
            edges = s
        self.bins = edges.numel() + 1  # intervals; one more: not kept
        self.bucket = torch.empty(
            flat.shape,
            dtype=torch.int16 if self.bins < 2**15 else torch.int32,
            device=flat.device)
        counts = flat.new_zeros(self.bins + 1, dtype=torch.int64)
        # score sums per interval: only the ramp (delta > 0) needs them
        sums = flat.new_zeros(self.bins + 1, dtype=torch.float64) \
            if delta > 0 else None
        for start, stop in _chunks(flat.numel()):
            q = flat[start:stop].double()
            b = torch.searchsorted(edges, q, right=delta == 0)
            keep = kept_negatives(flat[start:stop], labels[start:stop], s[0],
                                  delta)
            b.masked_fill_(~keep, self.bins)
            counts += bin_sums(b, self.bins + 1)
            if sums is not None:
                sums += bin_sums(b, self.bins + 1, q)
            self.bucket[start:stop] = b
        cn = _prefix(counts[:-1].double())
        n_kept = cn[-1]
        if sums is not None:
            cs = _prefix(sums[:-1])
            # buckets > up: H = 1; (low, up]: the ramp; <= low: 0
            n_ramp = cn[self.up + 1] - cn[self.low + 1]
            s_ramp = cs[self.up + 1] - cs[self.low + 1]
            fp = (n_kept - cn[self.up + 1]) + \
                (s_ramp - n_ramp * s) * inverse_width(delta) + 0.5 * n_ramp
        else:  # negatives in buckets > i are at or above s_i
            fp = n_kept - cn[1:-1]
        self.fp = reduce_sum(fp) if reduce_sum is not None else fp

    def write_negative_sums(self, coef: Tensor, out: Tensor) -> None:
        """Write ``sum_i coef_i H(s_j - s_i)`` into ``out[j]`` for every kept
        negative ``j`` and 0 into every other entry of the ``[M]`` ``out``
        (``coef``: ``[P]`` float64 in sorted order; the sums are float64,
        cast to ``out``'s dtype)."""
        s, delta = self.pos_sorted, self.delta
        if delta > 0:
            n = 2 * s.numel() + 1
            slope = inverse_width(delta)

            def rises(at: Tensor, weights: Tensor) -> Tensor:
                return bin_sums(at + 1, n, weights)

            full = cumsum0(rises(self.up, coef))
            ramp_c = cumsum0(rises(self.low, coef) - rises(self.up, coef))
            cs = coef * s
            ramp_cs = cumsum0(rises(self.low, cs) - rises(self.up, cs))
            intercept = full + 0.5 * ramp_c - ramp_cs * slope
            gradient = torch.cat([ramp_c * slope, ramp_c.new_zeros(1)])
        else:  # the positives at or below s_j, a prefix
            intercept, gradient = _prefix(coef), None
        intercept = torch.cat([intercept, intercept.new_zeros(1)])
        for start, stop in _chunks(out.numel()):
            b = self.bucket[start:stop].long()
            value = intercept[b]
            if gradient is not None:
                value += gradient[b] * self.flat[start:stop].double()
            out[start:stop] = value


def scatter_sorted(values: Tensor, order: Tensor) -> Tensor:
    """Values computed in sorted order, back in input order."""
    out = torch.empty_like(values)
    out[order] = values
    return out


def pruning_threshold(min_pos: Tensor, delta: float,
                      dtype: torch.dtype) -> Tensor:
    """Negatives below ``min positive - delta`` have ``H = 0`` against every
    positive (the authors prune them too). The margin keeps the comparison
    in the scores' (possibly low) precision a superset, the extra entries
    contributing exactly 0; for the hard step the threshold is the minimum
    positive itself (a tie counts, ``H(0) = 1``)."""
    return (min_pos - delta).to(dtype) - 1e-3 * delta


def kept_negatives(flat: Tensor, labels: Tensor, min_pos: Tensor,
                   delta: float) -> Tensor:
    """``[M]`` bool: the negatives (label 0) at or above
    :func:`pruning_threshold`, the only ones a ranking loss needs."""
    return (labels == 0) & (
        flat >= pruning_threshold(min_pos, delta, flat.dtype))


class RankingInputs(NamedTuple):
    """What every ranking engine starts from (:func:`ranking_inputs`).

    Attributes:
        flat: ``[M]`` detached scores.
        labels: ``[M]`` labels (1, 0, -1 ignored).
        update: ``[M]`` zeros for the update: float64 for float64 scores,
            else float32.
        pos_idx: ``[P_local]`` positions of this process's positives.
        all_pos: ``[P]`` float64 scores of every process's positives.
        all_values: ``[P]`` float64 per-positive values (IoU targets,
            localisation errors) in the same order, or None.
    """
    flat: Tensor
    labels: Tensor
    update: Tensor
    pos_idx: Tensor
    all_pos: Tensor
    all_values: Optional[Tensor]


def ranking_inputs(scores: Tensor,
                   labels: Tensor,
                   pos_idx: Optional[Tensor],
                   all_pos_scores: Optional[Tensor],
                   values: Optional[Tensor] = None,
                   all_values: Optional[Tensor] = None) -> RankingInputs:
    """Flatten, select this process's positives (one host round-trip when
    ``pos_idx`` is None) and take the global positives (this process's
    when ``all_pos_scores`` is None) with their values."""
    flat = scores.detach().reshape(-1)
    labels = labels.reshape(-1)
    out_dtype = torch.float64 if flat.dtype == torch.float64 else \
        torch.float32
    if pos_idx is None:
        pos_idx = torch.nonzero(labels == 1).flatten()
    if all_pos_scores is None:
        all_pos = flat[pos_idx].double()
        all_values = values
    else:
        all_pos = all_pos_scores.detach().reshape(-1).double()
    if all_values is not None:
        all_values = all_values.detach().reshape(-1).double()
    update = torch.zeros(flat.shape, dtype=out_dtype, device=flat.device)
    return RankingInputs(flat, labels, update, pos_idx, all_pos, all_values)


def rank_negatives(
        inputs: RankingInputs, delta: float,
        reduce_sum: Optional[Callable[[Tensor], Tensor]]) -> RankedNegatives:
    """:class:`RankedNegatives` of the kept negatives of ``inputs``
    (O(P log P + M log P); the negatives are never sorted). Needs at
    least one positive."""
    return RankedNegatives(inputs.all_pos, inputs.flat, inputs.labels, delta,
                           reduce_sum)
