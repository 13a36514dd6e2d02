"""The ranking losses over the global mini-batch: the engines of
:mod:`~mmdet_lossplus.functional` (AP-loss, Rank & Sort, aLRP) fed through
the collectives of :mod:`~mmdet_lossplus.dist` (shared by the loss modules
and the ranking hook).

One host round-trip per call, in one process as across ranks: the counts
(positives of every rank, non-finite scores, positives without a matching
value, failed input checks) are read together, then the positives are
selected at the known count (``true_positions`` of
:mod:`~mmdet_lossplus.functional.torch_compat`); the negatives are never
selected (:class:`~mmdet_lossplus.functional.ranking.RankedNegatives`
places every entry in place). Across ranks the positives' scores (and
their IoU targets or localisation errors) travel in one all-gather, the
per-positive false-positive counts in one all-reduce: O(P) numbers; the
pruning threshold follows from the gathered positives.
"""
import math
from typing import Any, Callable, List, NamedTuple, Optional

import torch
from torch import Tensor

from .. import dist
from ..checks import DeferredChecks
from ..functional.alrp import ALRPResult, alrp_with_update
from ..functional.ap_loss import APLossResult, ap_loss_with_update
from ..functional.rank_sort import RankSortResult, rank_sort_with_update
from ..functional.torch_compat import has_finite_extremes, true_positions


class NonFiniteScores(ValueError):
    """Raised on every rank when any rank has a non-finite float32/64
    score."""


def _poisoned(result: Any) -> Any:
    """``result`` with every float tensor but the positive count made NaN:
    the mixed-precision answer to a non-finite fp16 score (see
    :func:`select_ranked_entries`)."""
    return result._replace(
        **{
            k: torch.full_like(v, math.nan)
            for k, v in result._asdict().items()
            if torch.is_tensor(v) and v.is_floating_point() and k != 'num_pos'
        })


class RankedEntries(NamedTuple):
    """What the engines need besides the scores (see
    :func:`select_ranked_entries`)."""
    pos_idx: Tensor
    all_pos: Optional[Tensor]
    values: Optional[Tensor]
    all_values: Optional[Tensor]
    pos_offset: int
    reduce_sum: Optional[Callable[[Tensor], Tensor]]
    nonfinite: bool


def select_ranked_entries(
        flat: Tensor,
        labels: Tensor,
        global_scope: bool,
        pos_values: Optional[Callable[[Tensor], Tensor]] = None,
        num_values: Optional[int] = None,
        what: str = 'values',
        checks: Optional[DeferredChecks] = None) -> RankedEntries:
    """Positives and (across ranks) every rank's positives.

    Args:
        flat: ``[M]`` scores.
        labels: ``[M]`` int8 labels (1, 0, -1 ignored).
        global_scope: Rank over every process's entries in a distributed
            run (collectives every rank must enter).
        pos_values: Maps this rank's positive positions to a value per
            positive (IoU targets, localisation errors) gathered with the
            scores; None: scores only.
        num_values: The number of positive values the caller holds, when
            it must equal the number of positives (checked on every rank
            alike).
        what: Name of those values, for the error message.
        checks: Input checks read with the counts (bad labels, IoU targets
            out of range).

    Raises:
        ValueError: on every rank alike when an input check of any rank
            failed (its message, naming the ranks).
        NonFiniteScores: (a ``ValueError``) on every rank alike when a
            score of any rank, ignored entries included, is not finite.
        ValueError: on every rank alike when a rank's ``num_values`` is not
            its number of positives.
    """
    distributed = global_scope and dist.is_distributed()
    pos_mask = labels == 1
    n_pos = pos_mask.sum()
    mismatch = n_pos - num_values if num_values is not None else \
        torch.zeros_like(n_pos)
    if flat.numel():  # NaN and inf reach the extremes: no mask
        finite = has_finite_extremes(flat)
    else:
        finite = torch.ones((), dtype=torch.bool, device=flat.device)
    failed = checks.failures(flat.device) if checks is not None else []
    counts = torch.stack([n_pos, (~finite).long(), mismatch] + failed)
    rows = dist.all_gather_rows(counts) if distributed else counts[None]
    table: List[List[int]] = rows.tolist()  # the one host round-trip
    for k, message in enumerate(checks.messages if checks else []):
        ranks = [r for r, row in enumerate(table) if row[3 + k]]
        if ranks:
            raise ValueError(
                message + (f' (on rank(s) {ranks})' if len(table) > 1 else ''))
    bad = [r for r, row in enumerate(table) if row[1]]
    if bad and flat.dtype != torch.float16:
        raise NonFiniteScores(
            'scores: non-finite value(s) among the (anchor, class) entries, '
            'ignored ones included' +
            (f' (on rank(s) {bad})' if len(table) > 1 else '') +
            '; a ranking loss needs finite logits')
    wrong = [(r, row[0], row[0] - row[2]) for r, row in enumerate(table)
             if row[2]]
    if wrong:
        raise ValueError(
            f'{what}: one per positive (anchor, class) entry expected; ' +
            '; '.join(f'rank {r}: {p} positives, {v} {what}'
                      for r, p, v in wrong))
    me = dist.rank() if distributed else 0
    pos_idx = true_positions(pos_mask, table[me][0])
    del pos_mask
    values = pos_values(pos_idx) if pos_values is not None else None
    if not distributed:
        return RankedEntries(pos_idx, None, values, values, 0, None, bool(bad))
    sizes = [row[0] for row in table]
    mine = flat[pos_idx].detach().double()
    if values is None:
        all_pos, all_values = dist.all_gather_sized(mine, sizes), None
    else:  # scores and values interleaved: one all-gather
        pairs = torch.stack([mine, values.detach().double()], 1)
        both = dist.all_gather_sized(
            pairs.reshape(-1), [2 * n for n in sizes]).reshape(-1, 2)
        all_pos, all_values = both[:, 0], both[:, 1]
    return RankedEntries(pos_idx, all_pos, values, all_values, sum(sizes[:me]),
                         dist.all_reduce_sum, bool(bad))


def ranking_ap_loss(scores: Tensor,
                    labels: Tensor,
                    delta: float,
                    global_scope: bool,
                    checks: Optional[DeferredChecks] = None) -> APLossResult:
    """AP-loss and update of flat ``scores`` with int8 ``labels`` (1, 0,
    -1 ignored): over every rank's entries when ``global_scope`` in a
    distributed run, else over this rank's only (see
    :func:`select_ranked_entries` for ``checks`` and the errors raised)."""
    flat, labels = scores.reshape(-1), labels.reshape(-1)
    sel = select_ranked_entries(flat, labels, global_scope, checks=checks)
    out = ap_loss_with_update(
        flat,
        labels,
        delta,
        all_pos_scores=sel.all_pos,
        pos_offset=sel.pos_offset,
        reduce_sum=sel.reduce_sum,
        pos_idx=sel.pos_idx)
    return _poisoned(out) if sel.nonfinite else out


def ranking_rank_sort_loss(
        scores: Tensor,
        labels: Tensor,
        targets: Tensor,
        delta: float,
        global_scope: bool,
        columns: int = 1,
        checks: Optional[DeferredChecks] = None) -> RankSortResult:
    """Rank & Sort loss and update; entry ``i``'s target is
    ``targets[i // columns]``, read at the positives (their IoU targets:
    ``[N]`` per anchor with ``columns = C``, or ``[N*C]`` per entry)."""
    flat, labels = scores.reshape(-1), labels.reshape(-1)
    targets = targets.reshape(-1)

    def pos_targets(idx: Tensor) -> Tensor:
        return targets[idx // columns] if columns > 1 else targets[idx]

    sel = select_ranked_entries(
        flat, labels, global_scope, pos_values=pos_targets, checks=checks)
    assert sel.values is not None  # pos_values was given
    out = rank_sort_with_update(
        flat,
        labels,
        sel.values,
        delta,
        all_pos_scores=sel.all_pos,
        all_pos_targets=sel.all_values,
        pos_offset=sel.pos_offset,
        reduce_sum=sel.reduce_sum,
        pos_idx=sel.pos_idx)
    return _poisoned(out) if sel.nonfinite else out


def ranking_alrp_loss(scores: Tensor,
                      labels: Tensor,
                      loc_errors: Tensor,
                      delta: float,
                      global_scope: bool,
                      checks: Optional[DeferredChecks] = None) -> ALRPResult:
    """aLRP loss parts and update; ``loc_errors`` holds one value per
    positive entry, in their order in ``scores`` (checked)."""
    flat, labels = scores.reshape(-1), labels.reshape(-1)
    loc = loc_errors.detach().reshape(-1)
    sel = select_ranked_entries(
        flat,
        labels,
        global_scope,
        pos_values=lambda i: loc,
        num_values=loc.numel(),
        what='loc_errors',
        checks=checks)
    out = alrp_with_update(
        flat,
        labels,
        loc,
        delta,
        all_pos_scores=sel.all_pos,
        all_loc_errors=sel.all_values,
        pos_offset=sel.pos_offset,
        reduce_sum=sel.reduce_sum,
        pos_idx=sel.pos_idx)
    return _poisoned(out) if sel.nonfinite else out
