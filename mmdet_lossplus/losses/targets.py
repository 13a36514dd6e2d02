"""Turn mmdet's classification targets into binary (one-hot) form."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def binary_targets(pred: Tensor, target: Tensor,
                   label_weight: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """One-hot float targets and a validity mask shaped like ``pred``.

    Args:
        pred: ``[N, C]`` logits.
        target: ``[N]`` class indices with background ``C`` (mmdet 3.x), or
            ``[N, C]`` binary targets.
        label_weight: None, ``[N]`` (per anchor) or ``[N, C]``; entries
            > 0 are valid.

    Returns:
        ``(target [N, C] float32, valid [N, C] bool)``.

    Raises:
        TypeError: for a non-floating ``pred`` or a floating index target.
        ValueError: for wrong shapes or labels outside ``[0, C]`` (this
            check costs one host sync per call).
    """
    if not torch.is_tensor(pred) or not pred.is_floating_point():
        raise TypeError('pred must be a floating-point tensor of shape '
                        f'[N, C], got {getattr(pred, "dtype", type(pred))}')
    if pred.dim() != 2:
        raise ValueError(
            f'pred must have shape [N, C], got {tuple(pred.shape)}')
    n, c = pred.shape
    if target.dim() == 1:
        if target.shape[0] != n:
            raise ValueError(f'target has {target.shape[0]} labels for {n} '
                             'predictions')
        if target.is_floating_point():
            raise TypeError('class-index target must be an integer tensor, '
                            f'got {target.dtype}')
        if target.numel() and bool(((target < 0) | (target > c)).any()):
            raise ValueError(
                f'target labels must be in [0, {c}] ({c} = background), got '
                f'values in [{int(target.min())}, {int(target.max())}]')
        onehot = torch.zeros_like(pred, dtype=torch.float32)
        fg = target < c
        onehot[fg.nonzero(as_tuple=True)[0], target[fg]] = 1.0
        target = onehot
    elif target.shape == pred.shape:
        target = target.float()
    else:
        raise ValueError(
            f'target must have shape [N] (class indices) or [N, C] = '
            f'{tuple(pred.shape)}, got {tuple(target.shape)}')
    if label_weight is None:
        valid = torch.ones_like(pred, dtype=torch.bool)
    elif label_weight.shape == (n, ):
        valid = (label_weight > 0)[:, None].expand(n, c)
    elif label_weight.shape == pred.shape:
        valid = label_weight > 0
    else:
        raise ValueError(
            f'label_weight must have shape [N] = ({n},) or [N, C] = '
            f'{tuple(pred.shape)}, got {tuple(label_weight.shape)}')
    return target, valid
