"""GHM-R: gradient harmonized authentic smooth L1 (mmdet adapter)."""
from typing import Any, Optional

from torch import Tensor

from ..checks import (check_positive, check_regression_inputs,
                      effective_reduction)
from ..functional.ghm import ghmr_elementwise
from ..functional.torch_compat import device_scalar
from ..registry import MODELS
from .contract import resolve_scope
from .ghm_state import GHMState, check_ghm_args


@MODELS.register_module()
class GHMR(GHMState):
    """GHM-R loss (Li et al., AAAI 2019), vectorised and distributed-exact.

    ASL1 per coordinate, weighted by the inverse density of its gradient
    norm ``g = |d| / sqrt(d^2 + mu^2)``; ``tot`` is the sum of the label
    weights (at least 1). Drop-in for mmdet's ``GHMR`` (same values and
    gradients in a single process, same state keys); the differences are
    those listed for :class:`GHMC`.

    Args:
        mu: ASL1 transition scale, > 0.
        bins: Number of bins (the last edge is 1e3, as mmdet).
        momentum: EMA momentum in [0, 1).
        loss_weight: Multiplier of the loss.
        reduction: ``'mean'`` (divide by ``tot``), ``'sum'`` or ``'none'``.
        bias_correction: Remove the zero-start bias of the EMA.
        scope: ``'global'`` (default): one histogram over all ranks;
            ``'local'``: one per process.
        global_stats: Deprecated spelling of ``scope`` (True: 'global').
    """

    def __init__(self,
                 mu: float = 0.02,
                 bins: int = 10,
                 momentum: float = 0.0,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 bias_correction: bool = True,
                 scope: Optional[str] = None,
                 global_stats: Optional[bool] = None) -> None:
        check_positive('mu', mu)
        check_ghm_args(bins, momentum, loss_weight, reduction)
        super().__init__(
            bins, momentum, bias_correction,
            resolve_scope(scope, 'GHMR', global_stats=global_stats))
        self.mu = float(mu)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def forward(self,
                pred: Tensor,
                target: Tensor,
                label_weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs: Any) -> Tensor:
        """Compute the loss.

        Args:
            pred: ``[N, 4]`` (or ``[N, 4k]``) regression outputs.
            target: Regression targets, same shape.
            label_weight: Weights, same shape; <= 0 means ignored. None
                means all valid with weight 1.
            avg_factor: Ignored: GHM-R normalises by ``tot``.
            reduction_override: Overrides ``reduction``.
        """
        check_regression_inputs(pred, target, label_weight)
        if label_weight is not None and not label_weight.is_floating_point():
            label_weight = label_weight.float()  # bool/int masks, as mmdet
        reduction = effective_reduction(reduction_override, self.reduction)
        grad_elem, bin_idx, elem_loss = ghmr_elementwise(
            pred.detach(), target, label_weight, self.mu, self.bins,
            self.scratch)
        tot = (
            label_weight.float().sum()
            if label_weight is not None else device_scalar(
                grad_elem.numel(), grad_elem.dtype, grad_elem.device))
        return self.harmonize(pred, elem_loss, grad_elem, bin_idx, tot,
                              reduction, self.loss_weight)
