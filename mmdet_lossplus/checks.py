"""Argument and value checks shared by every layer of the package (pure
torch, at the bottom of the import order): clear errors naming the
argument, its value and what is allowed."""
import math
from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_loss_weight(loss_weight: float) -> None:
    if not _is_number(loss_weight) or not math.isfinite(loss_weight):
        raise ValueError(
            f'loss_weight must be a finite number, got {loss_weight!r}')


def check_choice(name: str, value: Any, allowed: Tuple[Any, ...]) -> None:
    """``ValueError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f'{name} must be one of {allowed}, got {value!r}')


def check_reduction(reduction: str) -> None:
    check_choice('reduction', reduction, REDUCTIONS)


def effective_reduction(reduction_override: Optional[str],
                        reduction: str) -> str:
    """The reduction of one call: ``reduction_override`` (checked) when
    given, else the module's ``reduction``."""
    if reduction_override is not None:
        check_choice('reduction_override', reduction_override, REDUCTIONS)
    return reduction_override or reduction


def check_positive(name: str, value: float) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be a finite number > 0, got {value!r}')


def check_int(name: str, value: Any, minimum: Optional[int] = None) -> None:
    """``TypeError`` unless ``value`` is an int (not a bool), ``ValueError``
    if it is below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int'
                        f'{"" if minimum is None else f" >= {minimum}"}, '
                        f'got {value!r}')
    if minimum is not None and value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value}')


def check_number(name: str,
                 value: Any,
                 low: Optional[float] = None,
                 high: Optional[float] = None,
                 low_open: bool = False,
                 high_open: bool = False) -> None:
    """``TypeError`` unless ``value`` is a real number (not a bool),
    ``ValueError`` unless it is finite and inside the interval with the
    given ends (``None``: unbounded; ``*_open``: the end excluded)."""
    left = '(' if low_open or low is None else '['
    right = ')' if high_open or high is None else ']'
    interval = (f'{left}{"-inf" if low is None else low}, '
                f'{"inf" if high is None else high}{right}')
    if not _is_number(value):
        raise TypeError(f'{name} must be a number in {interval}, got '
                        f'{value!r}')
    inside = math.isfinite(value)
    if low is not None:
        inside = inside and (value > low if low_open else value >= low)
    if high is not None:
        inside = inside and (value < high if high_open else value <= high)
    if not inside:
        raise ValueError(f'{name} must be a finite number in {interval}, '
                         f'got {value!r}')


def check_str(name: str, value: Any) -> None:
    """``TypeError`` unless ``value`` is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise TypeError(f'{name} must be a non-empty str, got {value!r}')


def check_regression_inputs(pred: Tensor, target: Tensor,
                            weight: Optional[Tensor]) -> None:
    if not torch.is_tensor(pred) or not pred.is_floating_point():
        raise TypeError('pred must be a floating-point tensor, got '
                        f'{getattr(pred, "dtype", type(pred))}')
    if target.shape != pred.shape:
        raise ValueError(f'target shape {tuple(target.shape)} must equal '
                         f'pred shape {tuple(pred.shape)}')
    if weight is not None and weight.shape != pred.shape:
        raise ValueError(f'weight shape {tuple(weight.shape)} must equal '
                         f'pred shape {tuple(pred.shape)}')


class DeferredChecks:
    """Value checks of the inputs whose verdict is read with the one host
    read a ranking loss makes anyway (its count table), so that a bad
    input is a ``ValueError`` on every rank on CUDA too, never a
    device-side assertion."""

    def __init__(self) -> None:
        self.oks: List[Tensor] = []
        self.messages: List[str] = []

    def add(self, ok: Tensor, message: str) -> None:
        """Record the 0-dim bool ``ok`` (True: the check passed)."""
        self.oks.append(ok.reshape(()))
        self.messages.append(message)

    def failures(self, device: torch.device) -> List[Tensor]:
        """One 0-dim int64 per check: 1 where it failed."""
        return [(~ok).to(device=device, dtype=torch.int64) for ok in self.oks]


def check_values(ok: Tensor,
                 message: str,
                 deferred: Optional[DeferredChecks] = None) -> None:
    """``ValueError(message)`` unless the 0-dim bool ``ok`` is True,
    without a host round-trip on accelerators.

    With ``deferred``, the check is only recorded there (its caller reads
    it with its own host read). Else through ``torch._assert_async``: on
    CPU it checks at once (the value is on the host; re-raised as
    ``ValueError``); on CUDA it does not wait for the device, and a failure
    surfaces as a device-side assertion at the next synchronisation.
    """
    if deferred is not None:
        deferred.add(ok, message)
        return
    try:
        torch._assert_async(ok, message)
    except RuntimeError:
        raise ValueError(message) from None
