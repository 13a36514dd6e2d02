"""Rank & Sort loss (mmdet adapter): ranking and sorting of the global
mini-batch."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from .. import dist
from ..checks import check_loss_weight
from ..functional.ranking import check_step_delta
from ..registry import MODELS
from .contract import BatchStatsLoss, LossTraits, resolve_scope
from .global_ranking import ranking_rank_sort_loss
from .targets import DeferredChecks, rank_sort_targets


class _RankSortFunction(torch.autograd.Function):
    """Forward: ``(ranking loss, sorting loss)``. Backward: each part's
    error-driven update times its upstream gradient (the authors apply the
    sum of both with the first output's; equal under mmdet's summed losses).
    Scaled by the world size in global scope (the convention of
    :mod:`mmdet_lossplus.dist`)."""

    @staticmethod
    def forward(ctx, scores: Tensor, labels: Tensor, targets: Tensor,
                columns: int, delta: float, global_rank: bool,
                checks: DeferredChecks) -> Tuple[Tensor, Tensor]:
        out = ranking_rank_sort_loss(scores.detach(), labels, targets.detach(),
                                     delta, global_rank, columns, checks)
        distributed = global_rank and dist.is_distributed()
        ctx.scale = dist.ddp_gradient_scale() if distributed else 1
        ctx.save_for_backward(out.ranking_update, out.sorting_update,
                              out.pos_idx)
        ctx.shape, ctx.dtype = scores.shape, scores.dtype
        return (out.ranking_loss.to(torch.float32),
                out.sorting_loss.to(torch.float32))

    @staticmethod
    def backward(ctx, grad_rank: Tensor, grad_sort: Tensor):
        ranking_update, sorting_update, pos_idx = ctx.saved_tensors
        g = ranking_update * (grad_rank.to(ranking_update.dtype) * ctx.scale)
        g.index_add_(
            0, pos_idx,
            sorting_update * (grad_sort.to(sorting_update.dtype) * ctx.scale))
        return (g.reshape(ctx.shape).to(ctx.dtype), ) + (None, ) * 6


@MODELS.register_module()
class RankSortLoss(BatchStatsLoss):
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
        super().__init__(resolve_scope(scope, 'RankSortLoss'))
        check_step_delta(delta)
        check_loss_weight(loss_weight)
        if use_sigmoid is not True:
            raise ValueError('use_sigmoid must be True: Rank & Sort ranks '
                             f'per-class scores (got {use_sigmoid!r})')
        self.delta = float(delta)
        self.loss_weight = float(loss_weight)
        self.use_sigmoid = True

    def traits(self) -> LossTraits:
        return LossTraits(reduces_globally=self.global_scope, ranking=True)

    def ranking_delta(self) -> Optional[float]:
        return self.delta

    def forward(self,
                pred: Tensor,
                target: Union[Tuple[Tensor, Tensor], Tensor],
                label_weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tuple[Tensor, Tensor]:
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
        if reduction_override not in (None, 'mean'):
            raise ValueError('reduction_override must be None or "mean" for '
                             f'RankSortLoss, got {reduction_override!r}')
        checks = DeferredChecks()  # read with the counts: one host read
        labels, targets, columns = rank_sort_targets(
            pred, target, label_weight, deferred=checks)
        rank, sort = _RankSortFunction.apply(pred, labels, targets, columns,
                                             self.delta, self.global_scope,
                                             checks)
        return rank * self.loss_weight, sort * self.loss_weight

    def extra_repr(self) -> str:
        return f'delta={self.delta}, scope={self.scope!r}'
