"""AP-loss's ranking over the global mini-batch: the engine of
:mod:`~mmdet_lossplus.functional.ap_loss` fed through the collectives of
:mod:`~mmdet_lossplus.dist` (shared by ``APLoss`` and the ranking hook)."""
from torch import Tensor

from .. import dist
from ..functional.ap_loss import APLossResult, ap_loss_with_update


def ranking_ap_loss(scores: Tensor, labels: Tensor, delta: float,
                    global_rank: bool) -> APLossResult:
    """AP-loss and update of flat ``scores`` with int8 ``labels`` (1, 0,
    -1 ignored): over every rank's entries when ``global_rank`` in a
    distributed run (the positives' scores are gathered, per-positive
    counts reduced: collectives every rank must enter), else over this
    rank's only."""
    if global_rank and dist.is_distributed():
        all_pos, offset = dist.all_gather_variable(scores[labels == 1])
        return ap_loss_with_update(
            scores,
            labels,
            delta,
            all_pos_scores=all_pos,
            pos_offset=offset,
            reduce_sum=dist.all_reduce_sum)
    return ap_loss_with_update(scores, labels, delta)
