"""Geometry of box pairs: one definition for the IoU-family losses,
DIoU-NMS and the angle metric.

Boxes are ``(x1, y1, x2, y2)``; the functions take their corners as
:func:`corners` returns them (unbound once: indexing each coordinate
separately would cost a full-size gradient buffer per index in
backward), and the two boxes of a pair broadcast (``[N]`` with ``[N]``
for aligned pairs, ``[N, 1]`` with ``[1, M]`` for every pair). Nothing
here divides: each consumer divides with its own documented ``eps`` (the
losses add it to the union as mmdet's do; NMS bounds the union below as
mmcv's does, so that its plain IoU agrees with mmcv's bit for bit). A box
with ``x2 < x1`` (or ``y2 < y1``) has zero width (height).
"""
from typing import Tuple

import torch
from torch import Tensor

Corners = Tuple[Tensor, Tensor, Tensor, Tensor]


def corners(boxes: Tensor) -> Corners:
    """``(x1, y1, x2, y2)`` of ``[..., 4]`` boxes, each ``[...]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return x1, y1, x2, y2


def box_sizes(box: Corners) -> Tuple[Tensor, Tensor]:
    """``(width, height)`` clamped at 0."""
    x1, y1, x2, y2 = box
    return (x2 - x1).clamp(min=0), (y2 - y1).clamp(min=0)


def intersection_union(
        a: Corners, b: Corners, sizes_a: Tuple[Tensor, Tensor],
        sizes_b: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
    """``(intersection area, union area)`` of broadcast pairs, given their
    :func:`box_sizes`; the union is ``area_a + area_b - intersection`` in
    that order (mmcv's)."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter_w = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    inter_h = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = inter_w * inter_h
    wa, ha = sizes_a
    wb, hb = sizes_b
    return inter, wa * ha + wb * hb - inter


def enclosing_size(a: Corners, b: Corners) -> Tuple[Tensor, Tensor]:
    """``(width, height)`` of the smallest box enclosing both, by the
    extremes of all four corners: an inverted box stays inside its
    enclosing box, so ``rho^2 / c^2 <= 1`` holds for it too."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    w = (
        torch.maximum(torch.maximum(ax1, ax2), torch.maximum(bx1, bx2)) -
        torch.minimum(torch.minimum(ax1, ax2), torch.minimum(bx1, bx2)))
    h = (
        torch.maximum(torch.maximum(ay1, ay2), torch.maximum(by1, by2)) -
        torch.minimum(torch.minimum(ay1, ay2), torch.minimum(by1, by2)))
    return w, h


def centre_distance2(a: Corners, b: Corners) -> Tensor:
    """Squared distance ``rho^2`` of the box centres (centre offsets are
    halves of corner sums: ``(a1 + a2) / 2 - (b1 + b2) / 2``)."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    return ((ax1 + ax2 - bx1 - bx2)**2 + (ay1 + ay2 - by1 - by2)**2) / 4
