"""Authentic smooth L1 as a plain weighted regression loss."""
from typing import Any, Optional

from torch import Tensor

from ..checks import check_positive, check_regression_inputs
from ..functional.asl1 import asl1_loss
from ..registry import MODELS
from .glue import MMDetStyleLoss


@MODELS.register_module()
class ASL1Loss(MMDetStyleLoss):
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
        super().__init__(loss_weight, reduction)
        check_positive('mu', mu)
        self.mu = float(mu)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs: Any) -> Tensor:
        check_regression_inputs(pred, target, weight)
        loss = asl1_loss(pred.float() - target.float(), self.mu)
        return self.reduce(loss, weight, avg_factor,
                           self.call_reduction(reduction_override))
