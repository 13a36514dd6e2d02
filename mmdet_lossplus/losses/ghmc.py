"""GHM-C: gradient harmonized sigmoid cross-entropy (mmdet adapter)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..functional.ghm import compiled, ghm_bin_index, ghmc_elementwise
from ..registry import MODELS
from .checks import check_reduction_override
from .ghm_state import GHMState, check_ghm_args
from .targets import binary_targets, check_cls_inputs, positive_entries


@MODELS.register_module()
class GHMC(GHMState):
    """GHM-C loss (Li et al., AAAI 2019), vectorised and distributed-exact.

    Drop-in for mmdet's ``GHMC``: same arguments, same values and gradients
    in a single process (tested to 1e-6), same state-dict keys. Differences:

    * a few fused passes (arithmetic binning, ``bincount``, value and
      gradient together, one-hot targets never built) instead of a Python
      loop with a host sync per bin;
    * ``global_stats=True`` (default): in distributed training the
      histogram is that of the global mini-batch, the loss value is the
      global one, and the EMA is identical on all ranks;
    * ``bias_correction=True`` (default) removes the zero-start bias of the
      EMA, which inflates all weights by up to ``1 / (1 - momentum)`` in the
      first iterations; ``False`` reproduces mmdet;
    * the EMA only moves in training mode, never on non-finite batches;
    * used with :class:`~mmdet_lossplus.GHMRetinaHead`, one histogram per
      iteration over all FPN levels and images instead of one per level.

    ``avg_factor`` is accepted and, as in mmdet and the paper, not used: the
    GHM weights are normalised by ``tot``, the number of valid samples.
    ``label_weight`` only marks samples valid (> 0) or ignored, as in mmdet.

    Args:
        bins: Number of bins of the gradient norm ``g`` on [0, 1].
        momentum: EMA momentum of the per-bin counts, in [0, 1).
        use_sigmoid: Must be True (GHM-C is defined for sigmoid BCE).
        loss_weight: Multiplier of the loss.
        reduction: ``'mean'`` (divide by ``tot``), ``'sum'`` or ``'none'``.
        bias_correction: See above.
        global_stats: See above; False gives per-process histograms.
        compile_elementwise: Fuse the per-logit arithmetic with
            ``torch.compile`` (same values; faster after a one-time
            compilation of about 15 s per process; needs a C++ compiler on
            CPU, Triton on CUDA).
    """

    def __init__(self,
                 bins: int = 10,
                 momentum: float = 0.0,
                 use_sigmoid: bool = True,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 bias_correction: bool = True,
                 global_stats: bool = True,
                 compile_elementwise: bool = False) -> None:
        check_ghm_args(bins, momentum, loss_weight, reduction)
        if use_sigmoid is not True:
            raise ValueError(
                'use_sigmoid must be True: GHM-C harmonises sigmoid '
                f'cross-entropy gradients (got use_sigmoid={use_sigmoid!r})')
        super().__init__(bins, momentum, bias_correction, global_stats)
        self.use_sigmoid = True
        self.compile_elementwise = bool(compile_elementwise)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def forward(self,
                pred: Tensor,
                target: Tensor,
                label_weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            pred: ``[N, C]`` logits (any float dtype; computed in float32).
            target: ``[N]`` class indices in ``[0, C]`` (``C`` =
                background) or ``[N, C]`` binary targets.
            label_weight: ``[N]`` or ``[N, C]``; entries <= 0 are ignored.
                None means all valid.
            avg_factor: Ignored (see the class docstring).
            reduction_override: Overrides ``reduction``.

        Returns:
            The loss, a float32 scalar (or ``[N, C]`` for ``'none'``).
        """
        check_reduction_override(reduction_override)
        reduction = reduction_override or self.reduction
        index_targets = check_cls_inputs(pred, target, label_weight)
        m = self.bins
        x = pred.detach().float()
        if index_targets:
            # One-hot targets are never materialised: every entry is first
            # treated as a negative (g = p, BCE = softplus(x), dBCE/dx = p)
            # and the few positives are corrected in place.
            rows, cols = positive_entries(target, pred.shape[1])
            row_valid = None
            if label_weight is not None:
                valid = label_weight > 0
                row_valid = valid[:, None] if label_weight.dim() == 1 \
                    else valid
                # positives of ignored anchors stay ignored
                keep = row_valid[rows, 0 if label_weight.dim() == 1 else cols]
                rows, cols = rows[keep], cols[keep]
            elementwise = compiled(ghmc_elementwise) \
                if self.compile_elementwise else ghmc_elementwise
            p, bin_idx, elem_loss = elementwise(x, row_valid, m)
            p_pos = p[rows, cols]
            bin_idx[rows, cols] = ghm_bin_index(1.0 - p_pos, m)
            elem_loss[rows, cols] -= x[rows, cols]
            p[rows, cols] = p_pos - 1.0
            grad_elem = p
            if label_weight is None:
                tot = x.new_tensor(float(x.numel()))
            else:
                tot = valid.sum() * (
                    x.shape[1] if label_weight.dim() == 1 else 1)
        else:
            y, valid = binary_targets(pred, target, label_weight)
            grad_elem = torch.sigmoid(x) - y
            bin_idx = ghm_bin_index(grad_elem.abs(), m, valid)
            elem_loss = torch.where(
                valid,
                F.binary_cross_entropy_with_logits(x, y, reduction='none'),
                0.0)
            tot = valid.sum()
        return self.harmonize(pred, elem_loss, grad_elem, bin_idx, tot,
                              reduction, self.loss_weight)
