"""GHM-C: gradient harmonized sigmoid cross-entropy (mmdet adapter)."""
from typing import Any, Optional

from torch import Tensor

from ..checks import effective_reduction
from ..core.targets import check_cls_inputs, checked_binary_targets
from ..functional.ghm import ghmc_binary_targets, ghmc_index_targets
from ..registry import MODELS
from .contract import resolve_scope
from .ghm_state import GHMState, check_ghm_args


@MODELS.register_module()
class GHMC(GHMState):
    """GHM-C loss (Li et al., AAAI 2019), vectorised and distributed-exact.

    Drop-in for mmdet's ``GHMC``: same arguments, same values and gradients
    in a single process (tested to 1e-6), same state-dict keys. Differences:

    * a few passes over the logits (arithmetic binning, ``bincount``,
      value and gradient together, one-hot targets never built, positives
      and ignored anchors corrected in place) instead of a Python loop with
      a host sync per bin; on accelerators no host round-trip at all
      (see :func:`~mmdet_lossplus.functional.ghm.ghmc_index_targets`);
      on CPU the large temporaries live in reused buffers
      (:mod:`~mmdet_lossplus.functional.scratch`: two float32 and one
      int32 arrays of the input's size for GHM-C, four and one for GHM-R,
      held between calls; not on CUDA, whose allocator caches;
      ``loss.scratch.enabled = False`` turns the reuse off);
    * ``scope='global'`` (default): in distributed training the
      histogram is that of the global mini-batch, the loss value is the
      global one, and the EMA is identical on all ranks;
    * ``bias_correction=True`` (default) removes the zero-start bias of the
      EMA, which inflates all weights by up to ``1 / (1 - momentum)`` in the
      first iterations; ``False`` reproduces mmdet;
    * the EMA only moves in training mode, never on non-finite batches;
    * used with :class:`~mmdet_lossplus.AllLevelRetinaHead`, one histogram per
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
        scope: See above; ``'local'`` gives per-process histograms.
        global_stats: Deprecated spelling of ``scope`` (True: 'global').
    """

    def __init__(self,
                 bins: int = 10,
                 momentum: float = 0.0,
                 use_sigmoid: bool = True,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 bias_correction: bool = True,
                 scope: Optional[str] = None,
                 global_stats: Optional[bool] = None) -> None:
        check_ghm_args(bins, momentum, loss_weight, reduction)
        if use_sigmoid is not True:
            raise ValueError(
                'use_sigmoid must be True: GHM-C harmonises sigmoid '
                f'cross-entropy gradients (got use_sigmoid={use_sigmoid!r})')
        super().__init__(
            bins, momentum, bias_correction,
            resolve_scope(scope, 'GHMC', global_stats=global_stats))
        self.use_sigmoid = True
        # how positives and ignored rows are corrected (see
        # ghmc_index_targets); None: selected on CPU, not on accelerators
        self.select_rows: Optional[bool] = None
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
        reduction = effective_reduction(reduction_override, self.reduction)
        x = pred.detach().float()
        checks = self.defer_checks(pred.device)  # no host read on GPUs
        if check_cls_inputs(pred, target, label_weight, checks):
            if checks is not None:  # a bad label must not index out of
                # bounds before LossStateCheckHook reports it
                target = target.clamp(0, pred.shape[1])
            grad_elem, bin_idx, elem_loss, tot = ghmc_index_targets(
                x, target, label_weight, self.bins, self.scratch,
                self.select_rows)
        else:
            y, valid = checked_binary_targets(pred, target, label_weight,
                                              False)
            grad_elem, bin_idx, elem_loss, tot = ghmc_binary_targets(
                x, y, valid, self.bins)
        self.keep_failures(checks)
        # A non-finite logit anywhere, ignored entries and saturated ones
        # (-inf negatives) included, makes tot, hence the loss and its
        # gradient, NaN on every rank and leaves the EMA alone: one read of
        # the logits, no host sync.
        tot = tot + 0.0 * x.sum()
        return self.harmonize(pred, elem_loss, grad_elem, bin_idx, tot,
                              reduction, self.loss_weight)
