"""Base of the ranking losses: the arguments they share and how their
error-driven updates become gradients."""
from typing import Any, Optional, Sequence, Tuple

from torch import Tensor

from ..checks import check_loss_weight
from ..core.ranking_updates import UpdatePart, with_ranking_updates
from ..functional.ranking import check_step_delta
from .contract import BatchStatsLoss, LossTraits, resolve_scope


class RankingLoss(BatchStatsLoss):
    """A loss over the ranking of every (anchor, class) score of the batch.

    Subclasses compute their values and updates without autograd (an
    engine of :mod:`~mmdet_lossplus.core.global_ranking`) and return
    :meth:`attach_updates` of them. Each (anchor, class) pair is one binary
    example: positive for the anchor's assigned class, negative otherwise,
    ignored where ``label_weight`` is 0. ``scope='global'`` ranks over
    every process's entries (loss and DDP-averaged gradient equal to one
    process on the whole mini-batch); ``'local'`` ranks each process's
    entries alone, as the papers' code.

    Args:
        delta: Half-width of the step function's linear ramp (>= 0; > 0
            where ``zero_delta`` is False).
        loss_weight: Multiplier of every output.
        scope: ``'global'`` (default) or ``'local'``.
        use_sigmoid: Must be True; heads read it to size their output.
        zero_delta: Whether ``delta = 0`` (a hard step) is allowed.
        legacy: Deprecated spellings of ``scope`` (see
            :func:`~mmdet_lossplus.losses.contract.resolve_scope`).
    """

    def __init__(self,
                 delta: float,
                 loss_weight: float = 1.0,
                 scope: Optional[str] = None,
                 use_sigmoid: bool = True,
                 zero_delta: bool = True,
                 **legacy: Any) -> None:
        super().__init__(resolve_scope(scope, type(self).__name__, **legacy))
        check_step_delta(delta, allow_zero=zero_delta)
        check_loss_weight(loss_weight)
        if use_sigmoid is not True:
            raise ValueError(
                f'use_sigmoid must be True: {type(self).__name__} ranks '
                f'per-class scores (got use_sigmoid={use_sigmoid!r})')
        self.delta = float(delta)
        self.loss_weight = float(loss_weight)
        self.use_sigmoid = True

    def traits(self) -> LossTraits:
        return LossTraits(reduces_globally=self.global_scope, ranking=True)

    def ranking_delta(self) -> Optional[float]:
        return self.delta

    def check_reduction_override(self,
                                 reduction_override: Optional[str]) -> None:
        """A ranking loss has no per-element form: None or ``'mean'``."""
        if reduction_override not in (None, 'mean'):
            raise ValueError(
                'reduction_override must be None or "mean" for '
                f'{type(self).__name__}, got {reduction_override!r}')

    def attach_updates(self, scores: Tensor,
                       parts: Sequence[UpdatePart]) -> Tuple[Tensor, ...]:
        """The parts' losses times ``loss_weight``, differentiable with
        respect to ``scores`` through their updates (see
        :func:`~mmdet_lossplus.core.ranking_updates.with_ranking_updates`)."""
        losses = with_ranking_updates(scores, parts, self.global_scope)
        return tuple(loss * self.loss_weight for loss in losses)

    def extra_repr(self) -> str:
        return f'delta={self.delta}, scope={self.scope!r}'
