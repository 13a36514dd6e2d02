"""AP-loss (mmdet adapter): ranking of the global mini-batch."""
from typing import Optional

import torch
from torch import Tensor

from .. import dist
from ..checks import check_loss_weight
from ..functional.ap_loss import check_delta
from ..registry import MODELS
from .contract import (BatchStatsLoss, LossTraits, RankingSnapshot,
                       resolve_scope)
from .global_ranking import ranking_ap_loss
from .targets import DeferredChecks, ranking_labels


class _APLossFunction(torch.autograd.Function):
    """Forward: AP-loss value. Backward: the error-driven update.

    In ``global`` mode under DDP the update of this process's entries is
    multiplied by the world size, so that DDP's gradient averaging gives
    exactly the single-process update on the union (the convention of
    :mod:`mmdet_lossplus.dist`).
    """

    @staticmethod
    def forward(ctx, scores: Tensor, labels: Tensor, delta: float,
                global_rank: bool, owner: 'APLoss',
                checks: DeferredChecks) -> Tensor:
        flat = scores.detach().reshape(-1)
        flat_labels = labels.reshape(-1)
        distributed = global_rank and dist.is_distributed()
        # A NaN would silently fall out of the ranking; one in an ignored
        # entry still means the network diverged: ranking_ap_loss raises on
        # every rank alike (none waits in a collective).
        out = ranking_ap_loss(flat, flat_labels, delta, global_rank, checks)
        scale = dist.ddp_gradient_scale() if distributed else 1
        owner.last_num_pos = out.num_pos.detach()
        owner.last_loss = out.loss.detach()
        ctx.save_for_backward(out.update)
        ctx.scale = scale
        ctx.shape = scores.shape
        ctx.dtype = scores.dtype
        return out.loss.to(torch.float32)

    @staticmethod
    def backward(ctx, grad: Tensor):
        update, = ctx.saved_tensors
        g = (update * (grad.double() * ctx.scale)).reshape(ctx.shape)
        return g.to(ctx.dtype), None, None, None, None, None


@MODELS.register_module()
class APLoss(BatchStatsLoss):
    """AP-loss (Chen et al., CVPR 2019) for sigmoid classification heads.

    Each (anchor, class) pair is one binary example: positive for the
    anchor's assigned class, negative for the other classes and for
    background anchors, ignored where ``label_weight`` is 0. The loss is
    ``1 - mean interpolated AP`` of the ranking of all examples, trained
    with the paper's error-driven update (exact, sort-based; see
    :mod:`mmdet_lossplus.functional.ap_loss`).

    ``scope='global'`` (default) ranks every positive against the negatives
    of all processes, so the loss and gradients equal a single process on
    the whole mini-batch (only the positives' scores and per-positive
    counts are communicated). ``scope='local'`` ranks each process's
    examples separately, as the authors' code does. Use it with a head that
    passes all levels and images at once
    (:class:`~mmdet_lossplus.AllLevelRetinaHead`): the ranking must see the
    whole batch.

    Args:
        delta: Half-width of the linear step function, > 0 (paper: 1.0).
        loss_weight: Multiplier of the loss.
        scope: ``'global'`` (default) or ``'local'``.
        use_sigmoid: Must be True; heads read it to size their output.
        mode: Deprecated spelling of ``scope`` (a warning says so).
    """

    def __init__(self,
                 delta: float = 1.0,
                 loss_weight: float = 1.0,
                 scope: Optional[str] = None,
                 use_sigmoid: bool = True,
                 mode: Optional[str] = None) -> None:
        super().__init__(resolve_scope(scope, 'APLoss', mode=mode))
        check_delta(delta)
        if use_sigmoid is not True:
            raise ValueError('use_sigmoid must be True: AP-loss ranks '
                             'per-class scores (got use_sigmoid='
                             f'{use_sigmoid!r})')
        check_loss_weight(loss_weight)
        self.delta = float(delta)
        self.loss_weight = float(loss_weight)
        self.use_sigmoid = True
        self.last_num_pos: Optional[Tensor] = None
        self.last_loss: Optional[Tensor] = None

    def traits(self) -> LossTraits:
        return LossTraits(reduces_globally=self.global_scope, ranking=True)

    def ranking_delta(self) -> Optional[float]:
        return self.delta

    def published_ranking(self) -> Optional[RankingSnapshot]:
        if self.last_loss is None:
            return None
        return RankingSnapshot(self.last_loss, self.last_num_pos, self.delta)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                label_weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            pred: ``[N, C]`` classification logits.
            target: ``[N]`` class indices in ``[0, C]`` (``C`` =
                background) or ``[N, C]`` binary targets.
            label_weight: ``[N]`` or ``[N, C]``; entries <= 0 are ignored.
            avg_factor: Accepted for mmdet's convention and unused: AP-loss
                normalises by the number of positives itself.
            reduction_override: None or ``'mean'`` (a ranking loss has no
                per-element form).

        Returns:
            A float32 scalar.
        """
        if reduction_override not in (None, 'mean'):
            raise ValueError('reduction_override must be None or "mean" for '
                             f'APLoss, got {reduction_override!r}')
        checks = DeferredChecks()  # read with the counts: one host read
        labels = ranking_labels(pred, target, label_weight, deferred=checks)
        loss = _APLossFunction.apply(pred, labels, self.delta,
                                     self.global_scope, self, checks)
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return f'delta={self.delta}, scope={self.scope!r}'
