"""Rank & Sort loss (mmdet adapter): ranking and sorting of the global
mini-batch."""
from typing import Any, Optional, Tuple, Union

from torch import Tensor

from ..checks import DeferredChecks
from ..core.global_ranking import ranking_rank_sort_loss
from ..core.ranking_updates import UpdatePart
from ..core.targets import rank_sort_targets
from ..registry import MODELS
from .ranking_loss import RankingLoss


@MODELS.register_module()
class RankSortLoss(RankingLoss):
    """Rank & Sort loss (Oksuz et al., ICCV 2021) for sigmoid heads.

    Each (anchor, class) pair is a binary example: positive for the
    anchor's assigned class (with the IoU of its predicted box as the
    continuous target), negative otherwise, ignored where ``label_weight``
    is 0. The loss ranks positives above negatives and sorts positives by
    their targets (:mod:`mmdet_lossplus.functional.rank_sort`: exact,
    sort-based, the authors' conventions). As the authors', a positive
    whose target is exactly 0 counts as a negative.

    ``scope='global'`` (default) ranks over every process's examples
    (the positives' scores and targets are gathered, O(P) numbers), so the
    losses and DDP-averaged gradients equal one process on the whole
    mini-batch; ``'local'`` ranks each process's examples alone (the
    authors' code). Use it with a head that passes all levels and images
    at once (:class:`~mmdet_lossplus.RankSortATSSHead`).

    Args:
        delta: Half-width of the step's ramp, >= 0 (paper: 0.5; 0: hard
            step).
        loss_weight: Multiplier of both parts.
        scope: ``'global'`` (default) or ``'local'``.
        use_sigmoid: Must be True; heads read it to size their output.
    """

    def __init__(self,
                 delta: float = 0.5,
                 loss_weight: float = 1.0,
                 scope: Optional[str] = None,
                 use_sigmoid: bool = True) -> None:
        super().__init__(delta, loss_weight, scope, use_sigmoid)

    def forward(self,
                pred: Tensor,
                target: Union[Tuple[Tensor, Tensor], Tensor],
                label_weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs: Any) -> Tuple[Tensor, Tensor]:
        """``(ranking loss, sorting loss)``, each times ``loss_weight``
        (mmdet's call convention; a head adds both to its losses).

        Args:
            pred: ``[N, C]`` classification logits.
            target: ``(labels [N], ious [N])`` as mmdet's quality losses
                (class indices with background ``C``; the IoU target of
                each positive, read at positives only), or ``[N, C]``
                float targets as the authors' (``> 0``: a positive with
                that target; 0: a negative).
            label_weight: ``[N]`` or ``[N, C]``; entries <= 0 are ignored.
            avg_factor: Unused: the loss normalises by the positives.
            reduction_override: None or ``'mean'``.
        """
        self.check_reduction_override(reduction_override)
        checks = DeferredChecks()  # read with the counts: one host read
        labels, targets, columns = rank_sort_targets(
            pred, target, label_weight, deferred=checks)
        out = ranking_rank_sort_loss(pred.detach(), labels, targets.detach(),
                                     self.delta, self.global_scope, columns,
                                     checks)
        # each update goes with its own output's gradient (the authors
        # apply both with the first one's: equal under mmdet's summed losses)
        rank, sort = self.attach_updates(pred, [
            UpdatePart(out.ranking_loss, out.ranking_update),
            UpdatePart(out.sorting_loss, out.sorting_update, out.pos_idx)
        ])
        return rank, sort
