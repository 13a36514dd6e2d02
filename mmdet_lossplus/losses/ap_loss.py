"""AP-loss (mmdet adapter): ranking of the global mini-batch."""
from typing import Any, Optional

from torch import Tensor

from ..checks import DeferredChecks
from ..core.global_ranking import ranking_ap_loss
from ..core.ranking_updates import UpdatePart
from ..core.targets import ranking_labels
from ..registry import MODELS
from .contract import RankingSnapshot
from .ranking_loss import RankingLoss


@MODELS.register_module()
class APLoss(RankingLoss):
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
        super().__init__(
            delta,
            loss_weight,
            scope,
            use_sigmoid,
            zero_delta=False,
            mode=mode)
        self._published: Optional[RankingSnapshot] = None

    def published_ranking(self) -> Optional[RankingSnapshot]:
        return self._published

    def forward(self,
                pred: Tensor,
                target: Tensor,
                label_weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs: Any) -> Tensor:
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
        self.check_reduction_override(reduction_override)
        checks = DeferredChecks()  # read with the counts: one host read
        labels = ranking_labels(pred, target, label_weight, deferred=checks)
        out = ranking_ap_loss(pred.detach(), labels, self.delta,
                              self.global_scope, checks)
        loss, = self.attach_updates(pred, [UpdatePart(out.loss, out.update)])
        self._published = RankingSnapshot(out.loss.detach(),
                                          out.num_pos.detach(), self.delta)
        return loss
