"""Argument checks shared by the loss modules: clear errors naming the
argument, its value and what is allowed."""
import math
from typing import Optional

import torch
from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_loss_weight(loss_weight: float) -> None:
    if not _is_number(loss_weight) or not math.isfinite(loss_weight):
        raise ValueError(
            f'loss_weight must be a finite number, got {loss_weight!r}')


def check_choice(name: str, value, allowed: tuple) -> None:
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
