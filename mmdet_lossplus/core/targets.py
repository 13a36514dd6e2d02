"""Check and convert mmdet's classification targets."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from ..checks import DeferredChecks, check_values


def check_cls_inputs(pred: Tensor,
                     target: Tensor,
                     label_weight: Optional[Tensor],
                     deferred: Optional[DeferredChecks] = None) -> bool:
    """Validate ``(pred, target, label_weight)`` of a sigmoid classifier.

    Args:
        pred: ``[N, C]`` logits.
        target: ``[N]`` class indices with background ``C`` (mmdet 3.x), or
            ``[N, C]`` binary targets.
        label_weight: None, ``[N]`` (per anchor) or ``[N, C]``.
        deferred: Where the value checks go instead of being asserted
            (see :func:`check_values`).

    Returns:
        True for class-index targets, False for ``[N, C]`` targets.

    Raises:
        TypeError: for a non-floating ``pred`` or a floating index target.
        ValueError: for wrong shapes, labels outside ``[0, C]`` or an
            ``[N, C]`` target that is not binary (value checks through
            :func:`check_values`: no host round-trip on accelerators).
    """
    if not torch.is_tensor(pred) or not pred.is_floating_point():
        raise TypeError('pred must be a floating-point tensor of shape '
                        f'[N, C], got {getattr(pred, "dtype", type(pred))}')
    if pred.dim() != 2:
        raise ValueError(
            f'pred must have shape [N, C], got {tuple(pred.shape)}')
    n, c = pred.shape
    if label_weight is not None and label_weight.shape not in ((n, ),
                                                               pred.shape):
        raise ValueError(
            f'label_weight must have shape [N] = ({n},) or [N, C] = '
            f'{tuple(pred.shape)}, got {tuple(label_weight.shape)}')
    if target.shape == pred.shape and target.dim() == 2:
        # [N, C] targets are binary: anything else (soft labels, class
        # ids) has no meaning here and gave silently wrong losses (one
        # host sync; mmdet's heads pass class indices instead)
        check_values(((target == 0) | (target == 1)).all(),
                     'an [N, C] target must be binary (0 or 1 in every '
                     'entry); got other values. Pass class indices [N] with '
                     f'background {c} for multi-class labels.', deferred)
        return False
    if target.dim() != 1:
        raise ValueError(
            f'target must have shape [N] (class indices) or [N, C] = '
            f'{tuple(pred.shape)}, got {tuple(target.shape)}')
    if target.shape[0] != n:
        raise ValueError(
            f'target has {target.shape[0]} labels for {n} predictions')
    if target.is_floating_point():
        raise TypeError('class-index target must be an integer tensor, got '
                        f'{target.dtype}')
    check_values(((target >= 0) & (target <= c)).all(),
                 f'target labels must be in [0, {c}] ({c} = background); '
                 'got values outside', deferred)
    return True


def binary_targets(
        pred: Tensor,
        target: Tensor,
        label_weight: Optional[Tensor],
        deferred: Optional[DeferredChecks] = None) -> Tuple[Tensor, Tensor]:
    """One-hot float targets and a validity mask shaped like ``pred``.

    Inputs as :func:`check_cls_inputs` (which is applied, into
    ``deferred`` when given); entries with ``label_weight <= 0`` are
    invalid.

    Returns:
        ``(target [N, C] float32, valid [N, C] bool)``.
    """
    index_targets = check_cls_inputs(pred, target, label_weight, deferred)
    return checked_binary_targets(pred, target, label_weight, index_targets)


def checked_binary_targets(pred: Tensor, target: Tensor,
                           label_weight: Optional[Tensor],
                           index_targets: bool) -> Tuple[Tensor, Tensor]:
    """:func:`binary_targets` of inputs :func:`check_cls_inputs` has
    already checked (its result is ``index_targets``): no check twice."""
    if index_targets:
        n, c = pred.shape
        # background C scatters into an extra column that is dropped: no
        # selection of the positives (no host round-trip); a label outside
        # [0, C] (reported through the check) must not index out of bounds
        onehot = pred.new_zeros((n, c + 1), dtype=torch.float32)
        onehot.scatter_(1, target.long().clamp(0, c)[:, None], 1.0)
        target = onehot[:, :c]
    else:
        target = target.float()
    if label_weight is None:
        valid = torch.ones_like(pred, dtype=torch.bool)
    elif label_weight.dim() == 1:
        valid = (label_weight > 0)[:, None].expand(pred.shape)
    else:
        valid = label_weight > 0
    return target, valid


def ranking_labels(pred: Tensor,
                   target: Tensor,
                   label_weight: Optional[Tensor],
                   keep_positive: Optional[Tensor] = None,
                   deferred: Optional[DeferredChecks] = None) -> Tensor:
    """int8 labels shaped like ``pred`` for a ranking: 1 positive, 0
    negative, -1 ignored (``label_weight <= 0``). Inputs as
    :func:`binary_targets`; ``keep_positive`` (``[N]`` bool, class-index
    targets only) makes the assigned class of the rows where it is False a
    negative; ``deferred`` collects the value checks (see
    :func:`check_values`).

    Class-index targets are written straight into int8 (one byte per
    entry; a ranking loss's label pass costs no float one-hot). They are
    clamped into ``[0, C]`` first: a label outside (reported through the
    check) must not index out of bounds, a device-side assertion on
    CUDA."""
    if not check_cls_inputs(pred, target, label_weight, deferred):
        if keep_positive is not None:
            raise ValueError('keep_positive needs class-index targets')
        target, valid = checked_binary_targets(pred, target, label_weight,
                                               False)
        return torch.where(valid, target.to(torch.int8),
                           torch.full_like(target, -1, dtype=torch.int8))
    n, c = pred.shape
    # background C scatters into an extra column that is dropped
    labels = torch.zeros((n, c + 1), dtype=torch.int8, device=pred.device)
    index = target.long().clamp(0, c)[:, None]
    if keep_positive is None:
        labels.scatter_(1, index, 1)
    else:
        labels.scatter_(1, index, keep_positive.to(torch.int8)[:, None])
    if label_weight is not None and label_weight.dim() == 1:
        labels.masked_fill_((label_weight <= 0)[:, None], -1)
    labels = labels[:, :c].contiguous()
    if label_weight is not None and label_weight.dim() == 2:
        labels.masked_fill_(label_weight <= 0, -1)
    return labels


def rank_sort_targets(
        pred: Tensor,
        target: Union[Tuple[Tensor, Tensor], Tensor],
        label_weight: Optional[Tensor],
        deferred: Optional[DeferredChecks] = None
) -> Tuple[Tensor, Tensor, int]:
    """Rank & Sort's inputs from mmdet's or the authors' targets.

    Args:
        pred: ``[N, C]`` classification logits.
        target: ``(labels [N], ious [N])`` (class indices with background
            ``C``; each positive's IoU target) or ``[N, C]`` float IoU
            targets (``> 0``: a positive with that target).
        label_weight: None, ``[N]`` or ``[N, C]``; entries <= 0 ignored.
        deferred: Where the value checks go (see :func:`check_values`).

    Returns:
        int8 ranking labels ``[N*C]`` (1 / 0 / -1 ignored), the targets
        (``[N]`` or ``[N*C]``) and the number of consecutive label entries
        sharing one target (``C`` for per-anchor IoUs, else 1).
    """
    if isinstance(target, (tuple, list)):
        if len(target) != 2:
            raise ValueError('target must be (labels [N], ious [N]) or '
                             f'an [N, C] tensor, got {len(target)} items')
        cls_labels, ious = target
        if not torch.is_tensor(ious) or not ious.is_floating_point() or \
                ious.shape != cls_labels.shape:
            raise TypeError('ious must be a float tensor shaped like the '
                            f'labels {tuple(cls_labels.shape)}')
        iou, columns = ious.detach(), pred.shape[1]
        check_values(((iou >= 0) & (iou <= 1)).all(),
                     'IoU targets must lie in [0, 1]', deferred)
        # as the authors: a positive whose target is 0 is a negative
        labels = ranking_labels(
            pred,
            cls_labels,
            label_weight,
            keep_positive=iou > 0,
            deferred=deferred)
    else:
        if not torch.is_tensor(target) or not \
                target.is_floating_point() or target.shape != pred.shape:
            raise TypeError(
                'target must be (labels [N], ious [N]) or a float '
                f'[N, C] = {tuple(pred.shape)} tensor of IoU targets')
        iou, columns = target.detach(), 1
        check_values(((iou >= 0) & (iou <= 1)).all(),
                     'IoU targets must lie in [0, 1]', deferred)
        labels = ranking_labels(
            pred, (iou > 0).to(torch.int8), label_weight, deferred=deferred)
    return labels.reshape(-1), iou.reshape(-1), columns
