"""Authentic smooth L1 as a plain weighted regression loss."""
from typing import Optional

from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from ..checks import (check_loss_weight, check_positive, check_reduction,
                      check_regression_inputs, effective_reduction)
from ..functional.asl1 import asl1_loss
from ..registry import MODELS


@MODELS.register_module()
class ASL1Loss(nn.Module):
    """ASL1 ``sqrt(d^2 + mu^2) - mu`` (GHM paper, eq. 11), no harmonising.

    A smooth alternative to SmoothL1Loss with mmdet's usual weighting:
    ``weight`` multiplies the element losses and ``'mean'`` divides by
    ``avg_factor`` when given (mmdet's ``weight_reduce_loss``).

    Args:
        mu: Transition scale, > 0.
        loss_weight: Multiplier of the loss.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
    """

    def __init__(self,
                 mu: float = 0.02,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        check_positive('mu', mu)
        check_loss_weight(loss_weight)
        check_reduction(reduction)
        self.mu = float(mu)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        check_regression_inputs(pred, target, weight)
        reduction = effective_reduction(reduction_override, self.reduction)
        loss = asl1_loss(pred.float() - target.float(), self.mu)
        if weight is not None:
            weight = weight.float()
        loss = weight_reduce_loss(loss, weight, reduction, avg_factor)
        return loss * self.loss_weight
