"""AP-loss's ranking over the global mini-batch: the engine of
:mod:`~mmdet_lossplus.functional.ap_loss` fed through the collectives of
:mod:`~mmdet_lossplus.dist` (shared by ``APLoss`` and the ranking hook).

One host round-trip per call, in one process as across ranks: the counts
(positives and kept negatives of every rank, non-finite scores) are read
together, then the entries are selected with ``torch.nonzero_static``.
"""
import math

import torch
from torch import Tensor

from .. import dist
from ..functional.ap_loss import (APLossResult, ap_loss_with_update,
                                  pruning_threshold)


class NonFiniteScores(ValueError):
    """Raised on every rank when any rank has a non-finite score."""


def ranking_ap_loss(scores: Tensor, labels: Tensor, delta: float,
                    global_rank: bool) -> APLossResult:
    """AP-loss and update of flat ``scores`` with int8 ``labels`` (1, 0,
    -1 ignored): over every rank's entries when ``global_rank`` in a
    distributed run (the positives' scores are gathered, per-positive
    counts reduced: collectives every rank must enter), else over this
    rank's only.

    Raises:
        NonFiniteScores: (a ``ValueError``) on every rank alike when a
            score of any rank, ignored entries included, is not finite.
    """
    flat = scores.reshape(-1)
    labels = labels.reshape(-1)
    distributed = global_rank and dist.is_distributed()
    pos_mask = labels == 1
    inf = torch.full((), math.inf, dtype=torch.float64, device=flat.device)
    min_pos = torch.where(pos_mask, flat.double(), inf).amin() \
        if flat.numel() else inf
    if distributed:
        min_pos = dist.all_reduce_min(min_pos)
    keep_mask = (labels == 0) & (
        flat > pruning_threshold(min_pos, delta, flat.dtype))
    counts = torch.stack(
        [pos_mask.sum(),
         keep_mask.sum(), (~torch.isfinite(flat)).sum()])
    if distributed:
        table = dist.all_gather_rows(counts)  # [W, 3]
    else:
        table = counts[None]
    table = table.tolist()  # the one host round-trip
    bad = sum(row[2] for row in table)
    if bad:
        raise NonFiniteScores(
            f'scores: {bad} non-finite value(s) among the (anchor, class) '
            'entries, ignored ones included; AP-loss needs finite logits')
    me = dist.rank() if distributed else 0
    n_pos, n_keep = table[me][0], table[me][1]
    pos_idx = torch.nonzero_static(pos_mask, size=n_pos)[:, 0]
    neg_idx = torch.nonzero_static(keep_mask, size=n_keep)[:, 0]
    if distributed:
        sizes = [row[0] for row in table]
        all_pos = dist.all_gather_sized(flat[pos_idx], sizes)
        return ap_loss_with_update(
            flat,
            labels,
            delta,
            all_pos_scores=all_pos,
            pos_offset=sum(sizes[:me]),
            reduce_sum=dist.all_reduce_sum,
            pos_idx=pos_idx,
            neg_idx=neg_idx)
    return ap_loss_with_update(
        flat, labels, delta, pos_idx=pos_idx, neg_idx=neg_idx)
