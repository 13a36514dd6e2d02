"""What a loss declares to the heads and hooks that use it.

Heads need to know whether a loss reduces over the global batch itself
(then they pass it the local ``avg_factor`` and leave its value alone);
hooks need the statistics a loss publishes (GHM's histogram, AP-loss's
ranking) and its checkable running state. Our losses with batch
statistics derive from :class:`BatchStatsLoss` and answer through
:meth:`~BatchStatsLoss.traits` and typed accessors; every other loss
(mmdet's focal, L1, IoU...) gets the default :class:`LossTraits`. Nothing
is discovered through attribute names, so a typo cannot silently switch
exactness off.

The one spelling of the choice across modules is ``scope``:
``'global'`` (the default: statistics, value and gradient of the whole
global mini-batch) or ``'local'`` (each process on its own data, as the
papers' code).
"""
import warnings
from dataclasses import dataclass
from typing import Any, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn

from ..checks import DeferredChecks, check_choice
from ..functional.torch_compat import accelerator_path

SCOPES = ('global', 'local')


@dataclass(frozen=True)
class LossTraits:
    """A loss's declaration.

    Attributes:
        reduces_globally: Its value is the global one on every rank and it
            scales its gradients for DDP itself; heads pass it the local
            ``avg_factor`` and do not re-report its value.
        histogram: It publishes the global gradient-norm histogram of its
            last call (:meth:`BatchStatsLoss.published_histogram`).
        ranking: It publishes the ranking measures of its last call
            (:meth:`BatchStatsLoss.published_ranking`).
        stateful: It keeps running state that must be identical on every
            rank (:meth:`BatchStatsLoss.state_vector`).
    """
    reduces_globally: bool = False
    histogram: bool = False
    ranking: bool = False
    stateful: bool = False


class RankingSnapshot(NamedTuple):
    """What a ranking loss measured on its last call (global in global
    scope): the AP-loss value ``1 - AP``, the positives and the step
    smoothing ``delta``."""
    loss: Tensor
    num_pos: Tensor
    delta: float


class BatchStatsLoss(nn.Module):
    """Base of our losses with batch-level statistics.

    Args:
        scope: ``'global'`` or ``'local'`` (see the module docstring).
    """

    def __init__(self, scope: str = 'global') -> None:
        super().__init__()
        check_choice('scope', scope, SCOPES)
        self.scope = scope
        # input checks deferred on accelerators (see :meth:`defer_checks`)
        self._failed_calls: Optional[Tensor] = None
        self._failure_messages: List[str] = []
        self._checks_reader = False  # set by LossStateCheckHook
        self._told_unread = False

    @property
    def global_scope(self) -> bool:
        return self.scope == 'global'

    def traits(self) -> LossTraits:
        """This loss's declaration (subclasses add what they publish)."""
        return LossTraits(reduces_globally=self.global_scope)

    def published_histogram(self) -> Optional[Tensor]:
        """``[bins]`` float64 counts of the last call (global in global
        scope), or None."""
        return None

    def published_ranking(self) -> Optional[RankingSnapshot]:
        """The last call's ranking measures, or None."""
        return None

    def ranking_delta(self) -> Optional[float]:
        """The step smoothing a ranking loss measures with, or None."""
        return None

    def state_vector(self) -> Optional[Tensor]:
        """The running state as one float64 vector, or None."""
        return None

    def state_snapshot(self) -> Any:
        """A copy of the running state (None: no state), for
        :meth:`restore_state`."""
        return None

    def restore_state(self, snapshot: Any) -> None:
        """Put back the state of :meth:`state_snapshot` (a skipped step)."""

    # -- input checks of a loss that makes no host read ----------------
    def defer_checks(self, device: torch.device) -> Optional[DeferredChecks]:
        """Where a call's value checks go: None on CPU (they raise at
        once), a :class:`~mmdet_lossplus.checks.DeferredChecks` on
        accelerators, whose verdict :meth:`keep_failures` counts on the
        device and ``LossStateCheckHook`` reads with its own host read (a
        ``ValueError`` on every rank at the next check, never a
        device-side assertion)."""
        return DeferredChecks() if accelerator_path(device) else None

    def expect_checks_read(self) -> None:
        """Declare that something reads the deferred checks
        (``LossStateCheckHook`` does before training)."""
        self._checks_reader = True

    def keep_failures(self, checks: Optional[DeferredChecks]) -> None:
        """Add this call's failed checks to the device-side count (and
        warn once when nothing will read them: a run without
        ``LossStateCheckHook``)."""
        if checks is None:
            return
        if not (self._checks_reader or self._told_unread):
            self._told_unread = True
            warnings.warn(
                f'{type(self).__name__}: on accelerators its input checks '
                '(labels, binary targets) are deferred, to make no host '
                'sync, and read by LossStateCheckHook, which this run does '
                "not have: add dict(type='mmdet_lossplus.LossStateCheckHook')"
                ' to custom_hooks, else invalid inputs are clamped into '
                'range and never reported',
                stacklevel=3)
        if not checks.oks:
            return
        # one call counts once, whichever of its checks failed
        count = torch.stack(checks.failures(checks.oks[0].device)).amax()
        self._failed_calls = count if self._failed_calls is None else \
            self._failed_calls.to(count.device) + count
        for message in checks.messages:
            if message not in self._failure_messages:
                self._failure_messages.append(message)

    def take_failures(self, device: torch.device) -> Tuple[Tensor, List[str]]:
        """``(0-dim int64 count of the calls whose deferred checks failed
        since the last take, the checks' messages)``; resets the count."""
        count = self._failed_calls
        self._failed_calls = None
        if count is None:
            return torch.zeros((), dtype=torch.int64, device=device), []
        return count.to(device), list(self._failure_messages)


def loss_traits(module: nn.Module) -> LossTraits:
    """The declaration of any loss module: its own for ours, the default
    (normalised by ``avg_factor``, publishes nothing) for any other."""
    if isinstance(module, BatchStatsLoss):
        return module.traits()
    return LossTraits()


def resolve_scope(scope: Optional[str], owner: str, **legacy: Any) -> str:
    """``scope`` after the deprecated spellings of earlier versions.

    Args:
        scope: The new argument (None: not given).
        owner: The class, for messages.
        legacy: ``global_stats=bool`` (GHM) or ``mode='global'|'local'``
            (AP-loss) or ``global_avg_factor=bool`` (heads); None when not
            given.

    Returns:
        ``'global'`` or ``'local'`` (default ``'global'``).

    Raises:
        ValueError: when both spellings are given, or values are invalid.
    """
    given = {k: v for k, v in legacy.items() if v is not None}
    if not given:
        return 'global' if scope is None else scope
    if scope is not None or len(given) > 1:
        raise ValueError(
            f'{owner}: give only scope=..., not also the deprecated '
            f'{", ".join(sorted(given))}')
    (name, value), = given.items()
    new: str
    if name == 'mode':
        check_choice('mode', value, SCOPES)
        new = value
    else:
        if not isinstance(value, bool):
            raise TypeError(f'{name} must be a bool, got {value!r}')
        new = 'global' if value else 'local'
    warnings.warn(
        f'{owner}: {name}={value!r} is deprecated; use scope={new!r}',
        FutureWarning,  # shown by default, unlike DeprecationWarning
        stacklevel=3)
    return new
