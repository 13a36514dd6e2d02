"""Geometry of box pairs: one definition for the IoU-family losses,
DIoU-NMS and the angle metric.

Boxes are ``(x1, y1, x2, y2)`` in the last dimension; the two arguments
broadcast (``[N, 4]`` with ``[N, 4]`` for aligned pairs, ``[N, 1, 4]``
with ``[1, M, 4]`` for every pair). Nothing here divides: each consumer
divides with its own documented ``eps`` (the losses add it to the union
as mmdet's do; NMS bounds the union below as mmcv's does, so that its
plain IoU agrees with mmcv's bit for bit). A box with ``x2 < x1`` (or
``y2 < y1``) has zero width (height).
"""
from typing import Tuple

import torch
from torch import Tensor


def box_sizes(boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """``(width, height)`` clamped at 0, shape ``[...]``."""
    return ((boxes[..., 2] - boxes[..., 0]).clamp(min=0),
            (boxes[..., 3] - boxes[..., 1]).clamp(min=0))


def intersection_union(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    """``(intersection area, union area)`` of broadcast pairs; the union is
    ``area_a + area_b - intersection`` in that order (mmcv's)."""
    wa, ha = box_sizes(a)
    wb, hb = box_sizes(b)
    inter_w = (torch.minimum(a[..., 2], b[..., 2]) -
               torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    inter_h = (torch.minimum(a[..., 3], b[..., 3]) -
               torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = inter_w * inter_h
    return inter, wa * ha + wb * hb - inter


def enclosing_size(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    """``(width, height)`` of the smallest box enclosing both, by the
    extremes of all four corners: an inverted box stays inside its
    enclosing box, so ``rho^2 / c^2 <= 1`` holds for it too."""
    w = (
        torch.maximum(
            torch.maximum(a[..., 0], a[..., 2]),
            torch.maximum(b[..., 0], b[..., 2])) - torch.minimum(
                torch.minimum(a[..., 0], a[..., 2]),
                torch.minimum(b[..., 0], b[..., 2])))
    h = (
        torch.maximum(
            torch.maximum(a[..., 1], a[..., 3]),
            torch.maximum(b[..., 1], b[..., 3])) - torch.minimum(
                torch.minimum(a[..., 1], a[..., 3]),
                torch.minimum(b[..., 1], b[..., 3])))
    return w, h


def centre_distance2(a: Tensor, b: Tensor) -> Tensor:
    """Squared distance ``rho^2`` of the box centres (centre offsets are
    halves of corner sums: ``(a1 + a2) / 2 - (b1 + b2) / 2``)."""
    dx = a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]
    dy = a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]
    return (dx**2 + dy**2) / 4
