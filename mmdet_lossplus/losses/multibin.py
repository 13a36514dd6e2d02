"""``MultiBinLoss``: bin classification plus in-bin residual regression."""
import math
from typing import Any, Optional

import torch
from torch import Tensor

from ..functional.multibin import make_spec, multibin_loss
from ..functional.torch_compat import device_scalar
from ..registry import MODELS
from .glue import MMDetStyleLoss


@MODELS.register_module()
class MultiBinLoss(MMDetStyleLoss):
    """Multi-bin loss (Mousavian et al., CVPR 2017) over every bin.

    ``pred`` and ``target`` are ``[N, num_bins * (1 + R)]``: predictions and
    :class:`~mmdet_lossplus.coders.MultiBinCoder` encodings with the same
    bin arguments (heads check that they match). ``cls_sum`` adds every
    row's mean binary cross-entropy over the bins, ``reg_sum`` every
    covering bin's residual loss, ``covered`` counts the (row, covering bin)
    pairs. ``'mean'`` without ``avg_factor``: ``cls_sum / rows + reg_weight
    * reg_sum / covered`` (rows weighted); with ``avg_factor`` (heads pass
    the positive count): ``(cls_sum + reg_weight * reg_sum) / avg_factor``,
    so a global count makes it exact across GPUs. No 0/0 in any case (no
    row, or nothing covering some bin). ``'sum'`` adds both sums; ``'none'``
    returns per-row ``cls + reg_weight * reg / covered_in_row``.

    Args:
        num_bins, low, high, periodic, overlap: The bins, as for
            ``MultiBinCoder``.
        reg_weight: Weight of the residual term.
        expectation_weight: Weight of the expectation-decoding term
            (``1 - cos`` of the probability-weighted circular mean vs the
            target); 0 disables it.
        loss_weight: Multiplier of the loss.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
    """

    def __init__(self,
                 num_bins: int = 4,
                 low: float = -math.pi,
                 high: float = math.pi,
                 periodic: bool = True,
                 overlap: float = 0.0,
                 reg_weight: float = 1.0,
                 expectation_weight: float = 0.0,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__(loss_weight, reduction)
        self.spec = make_spec(num_bins, low, high, periodic, overlap)
        for name, v in (('reg_weight', reg_weight), ('expectation_weight',
                                                     expectation_weight)):
            if not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                raise ValueError(f'{name} must be a finite number >= 0, got '
                                 f'{v!r}')
        self.reg_weight = float(reg_weight)
        self.expectation_weight = float(expectation_weight)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs: Any) -> Tensor:
        c = self.spec.channels
        for name, value in (('pred', pred), ('target', target)):
            if not torch.is_tensor(value) or not value.is_floating_point():
                raise TypeError(f'{name} must be a floating-point tensor, got '
                                f'{getattr(value, "dtype", type(value))}')
        if pred.dim() != 2 or pred.shape[1] != c or \
                target.shape != pred.shape:
            raise ValueError(
                f'pred and target must both be [N, {c}] (num_bins * (1 + '
                f'R)), got {tuple(pred.shape)} and {tuple(target.shape)}')
        n = pred.shape[0]
        if weight is not None and weight.shape != (n, ):
            if weight.shape in ((n, 1), (n, c)):
                weight = weight.float().mean(-1)  # mmdet's [N, C] weights
            else:
                raise ValueError(
                    f'weight must have shape [N] = ({n},), [N, 1] or [N, '
                    f'C] = ({n}, {c}), got {tuple(weight.shape)}')
        reduction = self.call_reduction(reduction_override)
        terms = multibin_loss(pred, target, self.spec, weight,
                              self.expectation_weight)
        if reduction == 'none':
            loss = terms.cls + self.reg_weight * terms.reg / \
                terms.covered.clamp(min=1e-6)
        elif reduction == 'sum':
            loss = terms.cls.sum() + self.reg_weight * terms.reg.sum()
        elif avg_factor is None:
            rows = weight.float().sum() if weight is not None else \
                device_scalar(pred.shape[0], pred.dtype, pred.device)
            loss = terms.cls.sum() / rows.clamp(min=1e-6) + \
                self.reg_weight * terms.reg.sum() / \
                terms.covered.sum().clamp(min=1e-6)
        else:
            # Both parts per averaged row: a head that passes the global
            # positive count makes the loss exact across GPUs (the number
            # of covering pairs would be a per-GPU normaliser).
            norm = device_scalar(avg_factor, torch.float32,
                                 pred.device).clamp(min=1e-6)
            loss = (terms.cls.sum() + self.reg_weight * terms.reg.sum()) / norm
        return (loss * self.loss_weight).to(pred.dtype)
