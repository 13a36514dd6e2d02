"""IoU-family losses on aligned box pairs: IoU, GIoU, DIoU and CIoU.

Papers:
    GIoU - Rezatofighi et al., "Generalized Intersection over Union",
    CVPR 2019. DIoU and CIoU - Zheng et al., "Distance-IoU Loss: Faster and
    Better Learning for Bounding Box Regression", AAAI 2020. The IoU > 0.5
    gate of CIoU's alpha - Zheng et al., "Enhancing Geometric Factors in
    Model Learning and Inference for Object Detection and Instance
    Segmentation", IEEE TCYB 2021 (the form mmdet implements).

Boxes are ``(x1, y1, x2, y2)`` in the last dimension; ``pred`` and
``target`` are paired row by row (shape ``[..., 4]`` each, result
``[...]``). Half-precision inputs are computed in float32 and the result is
cast back. ``eps`` is added to every denominator (union, enclosing area,
enclosing diagonal, box height in the aspect ratio and alpha's denominator),
so identical, zero-area and far-apart boxes all give finite losses and
gradients. A box with ``x2 < x1`` (or ``y2 < y1``) has zero width (height)
for its area and aspect ratio; its centre still counts, so DIoU/CIoU keep a
gradient that moves it.
"""
import math
from typing import Any, NamedTuple, Tuple

import torch
from torch import Tensor

from .box_geometry import (box_sizes, centre_distance2, corners,
                           enclosing_size, intersection_union)

IOU_MODES = ('linear', 'square', 'log')
CIOU_ALPHAS = ('paper', 'gated')


class BoxPairTerms(NamedTuple):
    """Geometry of aligned box pairs, every field of shape ``[...]``."""
    iou: Tensor
    union: Tensor
    enclose_w: Tensor
    enclose_h: Tensor
    pred_w: Tensor
    pred_h: Tensor
    target_w: Tensor
    target_h: Tensor
    centre_dist2: Tensor


def check_box_pairs(pred: Tensor, target: Tensor) -> None:
    """Raise ``ValueError`` unless both are ``[..., 4]`` of one shape."""
    for name, boxes in (('pred', pred), ('target', target)):
        if not torch.is_tensor(boxes) or not boxes.is_floating_point():
            raise TypeError(f'{name} must be a floating-point tensor of '
                            f'boxes, got {getattr(boxes, "dtype", boxes)!r}')
        if boxes.dim() < 1 or boxes.shape[-1] != 4:
            raise ValueError(f'{name} must have last dimension 4 '
                             '(x1, y1, x2, y2), got shape '
                             f'{tuple(boxes.shape)}')
    if pred.shape != target.shape:
        raise ValueError(f'pred shape {tuple(pred.shape)} must equal target '
                         f'shape {tuple(target.shape)}')


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in (torch.float16,
                                        torch.bfloat16) else x.dtype


def box_pair_terms(pred: Tensor,
                   target: Tensor,
                   eps: float = 1e-7) -> BoxPairTerms:
    """Intersection-over-union and the enclosing-box terms of box pairs
    (from :mod:`~mmdet_lossplus.functional.box_geometry`).

    Args:
        pred: ``[..., 4]`` boxes ``(x1, y1, x2, y2)``, already upcast.
        target: ``[..., 4]`` boxes of the same shape.
        eps: Added to the union.

    Returns:
        :class:`BoxPairTerms`; ``iou = inter / (union + eps)``,
        ``centre_dist2`` the squared distance of the box centres.
    """
    a, b = corners(pred), corners(target)
    pred_w, pred_h = box_sizes(a)
    target_w, target_h = box_sizes(b)
    inter, union = intersection_union(a, b, (pred_w, pred_h),
                                      (target_w, target_h))
    iou = inter / (union + eps)
    enclose_w, enclose_h = enclosing_size(a, b)
    centre_dist2 = centre_distance2(a, b)
    return BoxPairTerms(iou, union, enclose_w, enclose_h, pred_w, pred_h,
                        target_w, target_h, centre_dist2)


def iou_loss(pred: Tensor,
             target: Tensor,
             mode: str = 'log',
             eps: float = 1e-6) -> Tensor:
    """IoU loss of aligned pairs: ``-log IoU``, ``1 - IoU`` or ``1 - IoU^2``.

    UnitBox (Yu et al., ACM MM 2016) introduced ``-log IoU``; ``mode`` and
    the default ``eps`` follow mmdet's ``IoULoss``.

    Args:
        pred: ``[..., 4]`` predicted boxes.
        target: ``[..., 4]`` target boxes.
        mode: ``'log'``, ``'linear'`` or ``'square'``.
        eps: Added to the union; IoU is clamped to ``>= eps`` for the log.

    Returns:
        ``[...]`` losses in the input dtype.
    """
    if mode not in IOU_MODES:
        raise ValueError(f'mode must be one of {IOU_MODES}, got {mode!r}')
    check_box_pairs(pred, target)
    dtype = _compute_dtype(pred)
    iou = box_pair_terms(pred.to(dtype), target.to(dtype),
                         eps).iou.clamp(min=eps)
    if mode == 'linear':
        loss = 1 - iou
    elif mode == 'square':
        loss = 1 - iou**2
    else:
        loss = -iou.log()
    return loss.to(pred.dtype)


def giou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """GIoU loss ``1 - IoU + (C - U) / C`` of aligned pairs (C: enclosing
    box area, U: union).

    Args:
        pred: ``[..., 4]`` predicted boxes.
        target: ``[..., 4]`` target boxes.
        eps: Added to the union and to the enclosing area.

    Returns:
        ``[...]`` losses in ``[0, 2]``, in the input dtype.
    """
    check_box_pairs(pred, target)
    dtype = _compute_dtype(pred)
    t = box_pair_terms(pred.to(dtype), target.to(dtype), eps)
    enclose = t.enclose_w * t.enclose_h
    loss = 1 - t.iou + (enclose - t.union) / (enclose + eps)
    return loss.to(pred.dtype)


def _diou_loss(t: BoxPairTerms, eps: float) -> Tensor:
    diag2 = t.enclose_w**2 + t.enclose_h**2 + eps
    return 1 - t.iou + t.centre_dist2 / diag2


def diou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """DIoU loss ``1 - IoU + rho^2 / c^2`` of aligned pairs (rho: distance
    of the centres, c: diagonal of the enclosing box).

    Args:
        pred: ``[..., 4]`` predicted boxes.
        target: ``[..., 4]`` target boxes.
        eps: Added to the union and to ``c^2``.

    Returns:
        ``[...]`` losses in ``[0, 2)``, in the input dtype.
    """
    check_box_pairs(pred, target)
    dtype = _compute_dtype(pred)
    t = box_pair_terms(pred.to(dtype), target.to(dtype), eps)
    return _diou_loss(t, eps).to(pred.dtype)


# Below this fraction of the target's diagonal, the predicted box's
# aspect-angle gradient stops growing (see _AspectAngle).
ASPECT_GRAD_FLOOR = 0.1


class _AspectAngle(torch.autograd.Function):
    """``atan(w / (h + eps))`` with a bounded gradient.

    The exact gradient ``(h', -w) / (w^2 + h'^2)`` (``h' = h + eps``) grows
    like ``1 / eps`` as the predicted box shrinks to a point (1e6 in
    float32, inf once cast to float16). Its denominator is floored at
    ``floor2``: exact for boxes whose diagonal exceeds the floor, bounded
    by ``1 / sqrt(floor2)`` below it. The value is unchanged. (The CIoU
    authors go further and drop the denominator altogether, which only
    suits coordinates normalised to [0, 1].)
    """

    @staticmethod
    def forward(ctx: Any, w: Tensor, h: Tensor, floor2: Tensor,
                eps: float) -> Tensor:
        ctx.save_for_backward(w, h, floor2)
        ctx.eps = eps
        return torch.atan(w / (h + eps))

    @staticmethod
    def backward(ctx: Any,
                 upstream: Tensor) -> Tuple[Tensor, Tensor, None, None]:
        w, h, floor2 = ctx.saved_tensors
        hp = h + ctx.eps
        scale = upstream / torch.maximum(w * w + hp * hp, floor2)
        return scale * hp, -scale * w, None, None


def ciou_loss(pred: Tensor,
              target: Tensor,
              eps: float = 1e-7,
              alpha: str = 'paper') -> Tensor:
    """CIoU loss ``1 - IoU + rho^2 / c^2 + a * v`` of aligned pairs.

    ``v = 4 / pi^2 * (atan(w_t / h_t) - atan(w_p / h_p))^2`` measures the
    aspect-ratio mismatch and ``a = v / ((1 - IoU) + v)`` is treated as a
    constant (no gradient flows through it), as both papers prescribe.

    ``alpha='paper'`` (default) is the AAAI 2020 definition, also used by
    torchvision: continuous in the boxes. ``alpha='gated'`` sets ``a = 0``
    where ``IoU <= 0.5`` (TCYB 2021, mmdet's ``CIoULoss``): the aspect term
    then switches on abruptly at IoU = 0.5, which makes the loss value jump
    there; we keep it for reproducing mmdet results.

    The gradient of the predicted aspect angle is exact unless the
    predicted box's diagonal is below ``ASPECT_GRAD_FLOOR`` (0.1) of the
    target's; there it is bounded instead of growing to ``1 / eps`` (a
    point-sized prediction would otherwise get a gradient of about 1e6).

    Args:
        pred: ``[..., 4]`` predicted boxes.
        target: ``[..., 4]`` target boxes.
        eps: Added to the union, ``c^2``, the heights in the aspect ratios
            and the denominator of ``a`` (so identical boxes give ``a = 0``,
            not 0/0).
        alpha: ``'paper'`` or ``'gated'``.

    Returns:
        ``[...]`` losses in the input dtype.
    """
    if alpha not in CIOU_ALPHAS:
        raise ValueError(f'alpha must be one of {CIOU_ALPHAS}, got '
                         f'{alpha!r}')
    check_box_pairs(pred, target)
    dtype = _compute_dtype(pred)
    t = box_pair_terms(pred.to(dtype), target.to(dtype), eps)
    with torch.no_grad():
        floor2 = (ASPECT_GRAD_FLOOR**2) * (t.target_w**2 + t.target_h**2) + eps
    pred_angle: Tensor = _AspectAngle.apply(  # type: ignore[no-untyped-call]
        t.pred_w, t.pred_h, floor2, eps)
    angle_gap = torch.atan(t.target_w / (t.target_h + eps)) - pred_angle
    v = (4 / math.pi**2) * angle_gap**2
    with torch.no_grad():
        a = v / ((1 - t.iou) + v + eps)
        if alpha == 'gated':
            a = a * (t.iou > 0.5)
    loss: Tensor = (_diou_loss(t, eps) + a * v).to(pred.dtype)
    return loss
