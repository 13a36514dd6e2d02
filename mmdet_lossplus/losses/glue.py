"""mmdet's loss call convention, written once for the plain losses."""
from typing import Optional

from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor, nn

from ..checks import check_loss_weight, check_reduction, effective_reduction


class MMDetStyleLoss(nn.Module):
    """``loss_weight``, ``reduction`` and its per-call override, element
    weights and ``avg_factor``, as mmdet's own losses handle them.

    Subclasses compute their element losses and hand them to
    :meth:`reduce`; arguments are checked here, at construction.

    Args:
        loss_weight: Multiplier of the loss (finite).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        check_loss_weight(loss_weight)
        check_reduction(reduction)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def call_reduction(self, reduction_override: Optional[str]) -> str:
        """The reduction of one call (the override checked)."""
        return effective_reduction(reduction_override, self.reduction)

    def reduce(self, loss: Tensor, weight: Optional[Tensor],
               avg_factor: Optional[float], reduction: str) -> Tensor:
        """mmdet's ``weight_reduce_loss`` (float32 weights), times
        ``loss_weight``: ``'mean'`` divides by ``avg_factor`` when given,
        else by the number of elements."""
        if weight is not None:
            weight = weight.float()
        reduced: Tensor = weight_reduce_loss(loss, weight, reduction,
                                             avg_factor)
        return reduced * self.loss_weight
