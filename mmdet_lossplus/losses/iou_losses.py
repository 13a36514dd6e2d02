"""IoU, GIoU, DIoU and CIoU losses in mmdet's box-loss call convention.

Use them with ``reg_decoded_bbox=True`` heads (the head decodes its
predictions to ``(x1, y1, x2, y2)`` boxes before calling the loss).
"""
from typing import Any, Callable, Dict, Optional

from torch import Tensor

from ..checks import check_choice, check_positive
from ..functional.iou_losses import (CIOU_ALPHAS, IOU_MODES, check_box_pairs,
                                     ciou_loss, diou_loss, giou_loss, iou_loss)
from ..registry import MODELS
from .glue import MMDetStyleLoss


class _BoxOverlapLoss(MMDetStyleLoss):
    """Shared call convention of the IoU family.

    ``weight`` may be ``[N]`` or ``[N, 4]`` (averaged over the last
    dimension, as mmdet does); ``'mean'`` divides by ``avg_factor`` when
    given. Zero weights give a 0 connected to ``pred`` (DDP still sees a
    gradient for every parameter) without mmdet's host check of the
    weights: our element losses are finite for any boxes. Empty input
    gives 0 for ``'mean'``/``'sum'`` (mmdet returns NaN).
    Subclasses name their functional loss in ``loss_fn`` and put its extra
    arguments in ``self.options``.

    Args:
        eps: Passed to the functional loss.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight: Multiplier of the loss.
    """
    loss_fn: Callable[..., Tensor]

    def __init__(self,
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight, reduction)
        check_positive('eps', eps)
        self.eps = float(eps)
        self.options: Dict[str, Any] = {}

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """``[N]`` losses of the functional loss."""
        return type(self).loss_fn(pred, target, eps=self.eps, **self.options)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs: Any) -> Tensor:
        check_box_pairs(pred, target)
        reduction = self.call_reduction(reduction_override)
        if weight is not None:
            if weight.shape == pred.shape:
                weight = weight.float().mean(-1)
            elif weight.shape != pred.shape[:-1]:
                raise ValueError(
                    f'weight must have shape {tuple(pred.shape[:-1])} or '
                    f'{tuple(pred.shape)}, got {tuple(weight.shape)}')
        if pred.numel() == 0 and reduction != 'none':
            return pred.sum() * 0.0
        # Upcast once: the element losses are summed in float32 too.
        loss = self.elementwise(pred.float(), target.float())
        return self.reduce(loss, weight, avg_factor, reduction).to(pred.dtype)


@MODELS.register_module()
class IoULoss(_BoxOverlapLoss):
    """IoU loss (UnitBox): ``-log IoU`` (``mode='log'``), ``1 - IoU`` or
    ``1 - IoU^2``; defaults are mmdet's ``IoULoss`` ones.

    Args:
        mode: ``'log'``, ``'linear'`` or ``'square'``.
        eps: Added to the union; lower bound of IoU for the log.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight: Multiplier of the loss.
    """
    loss_fn = staticmethod(iou_loss)

    def __init__(self,
                 mode: str = 'log',
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(eps, reduction, loss_weight)
        check_choice('mode', mode, IOU_MODES)
        self.mode = mode
        self.options = dict(mode=mode)


@MODELS.register_module()
class GIoULoss(_BoxOverlapLoss):
    """GIoU loss ``1 - GIoU`` (Rezatofighi et al., CVPR 2019); ``eps``
    (default 1e-6) is added to the union and the enclosing area. Other
    arguments as :class:`_BoxOverlapLoss`."""
    loss_fn = staticmethod(giou_loss)


@MODELS.register_module()
class DIoULoss(_BoxOverlapLoss):
    """DIoU loss ``1 - IoU + rho^2/c^2`` (Zheng et al., AAAI 2020); ``eps``
    (default 1e-6) is added to the union and to ``c^2``. Other arguments as
    :class:`_BoxOverlapLoss`."""
    loss_fn = staticmethod(diou_loss)


@MODELS.register_module()
class CIoULoss(_BoxOverlapLoss):
    """CIoU loss ``1 - IoU + rho^2/c^2 + a*v`` (Zheng et al., AAAI 2020).

    Args:
        alpha: ``'paper'`` (default, AAAI 2020 and torchvision; continuous)
            or ``'gated'`` (``a = 0`` where IoU <= 0.5, mmdet's
            ``CIoULoss``). See :func:`~..functional.iou_losses.ciou_loss`.
        eps: Added to every denominator.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight: Multiplier of the loss.
    """
    loss_fn = staticmethod(ciou_loss)

    def __init__(self,
                 alpha: str = 'paper',
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(eps, reduction, loss_weight)
        check_choice('alpha', alpha, CIOU_ALPHAS)
        self.alpha = alpha
        self.options = dict(alpha=alpha)
