"""DIoU-NMS: greedy non-maximum suppression that spares distant centres.

Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding
Box Regression", AAAI 2020, eq. 12: a box B_i is suppressed by a kept,
higher-scoring box M when ``IoU(M, B_i) - (rho^2 / c^2)^beta > threshold``
(rho: distance of the centres, c: diagonal of their enclosing box). Two
overlapping boxes with distant centres (occluded neighbours) both survive.
With ``use_distance=False`` it is the classic greedy NMS, decision for
decision the one of mmcv's ``nms``.

The greedy pass is exact but vectorised: candidates are taken in score
order in blocks; a block first drops everything suppressed by boxes kept in
earlier blocks (one ``[kept, block]`` matrix), then resolves suppression
inside the block by fixed-point iteration on the ``[block, block]`` matrix,
which settles the first k candidates after k sweeps and usually stops after
a few (chains of suppression are short).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..checks import check_number
from .box_geometry import (box_sizes, centre_distance2, corners,
                           enclosing_size, intersection_union)

# candidates resolved together: a [512, 512] bool matrix is cheap, and the
# Python loop over blocks stays short
BLOCK_SIZE = 512


def _diou(a: Tensor, b: Tensor, beta: float, use_distance: bool,
          eps: float) -> Tensor:
    """``IoU - (rho^2/c^2)^beta`` of broadcastable ``[..., 4]`` boxes
    (geometry of :mod:`~mmdet_lossplus.functional.box_geometry`)."""
    ca, cb = corners(a), corners(b)
    inter, union = intersection_union(ca, cb, box_sizes(ca), box_sizes(cb))
    # the union bounded below, as mmcv's nms: the plain IoU agrees bitwise
    iou = inter / union.clamp(min=eps)
    if not use_distance:
        return iou
    enclose_w, enclose_h = enclosing_size(ca, cb)
    penalty = centre_distance2(ca, cb) / (enclose_w**2 + enclose_h**2 + eps)
    if beta != 1.0:
        penalty = penalty.pow(beta)
    return iou - penalty


def pairwise_diou(boxes1: Tensor,
                  boxes2: Tensor,
                  beta: float = 1.0,
                  use_distance: bool = True,
                  eps: float = 1e-7) -> Tensor:
    """``IoU - (rho^2 / c^2)^beta`` of every pair.

    Args:
        boxes1: ``[N, 4]`` boxes ``(x1, y1, x2, y2)``.
        boxes2: ``[M, 4]`` boxes.
        beta: Exponent of the distance penalty.
        use_distance: ``False`` gives the plain IoU.
        eps: Lower bound of the union and added to ``c^2``.

    Returns:
        ``[N, M]`` in ``boxes1``'s dtype.
    """
    return _diou(boxes1[:, None, :], boxes2[None, :, :], beta, use_distance,
                 eps)


def suppression_matrix(higher: Tensor,
                       lower: Tensor,
                       iou_threshold: float,
                       beta: float = 1.0,
                       use_distance: bool = True,
                       eps: float = 1e-7) -> Tensor:
    """``[K, B]`` bool: would ``higher[k]`` suppress ``lower[b]``?

    For ``iou_threshold >= 0`` only intersecting pairs can pass
    (``IoU - penalty > thr >= 0`` needs ``IoU > 0``), so the full criterion
    is evaluated on those pairs alone: an overlap test costs a few byte
    comparisons per pair, the criterion about twenty float operations.
    """
    if iou_threshold < 0:
        return pairwise_diou(higher, lower, beta, use_distance,
                             eps) > iou_threshold
    h = higher.unbind(1)
    w = lower.unbind(1)
    overlap = ((h[0][:, None] < w[2][None, :]) &
               (w[0][None, :] < h[2][:, None]) &
               (h[1][:, None] < w[3][None, :]) &
               (w[1][None, :] < h[3][:, None]))
    rows, cols = overlap.nonzero().unbind(1)
    passed = _diou(higher[rows], lower[cols], beta, use_distance,
                   eps) > iou_threshold
    hit = torch.zeros_like(overlap)
    hit[rows[passed], cols[passed]] = True
    return hit


def _check_nms_args(boxes: Tensor, scores: Tensor, iou_threshold: float,
                    beta: float, idxs: Optional[Tensor]) -> None:
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError('boxes must have shape [N, 4] (x1, y1, x2, y2), got '
                         f'{tuple(boxes.shape)}')
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f'scores must have shape [N] = '
                         f'[{boxes.shape[0]}], got {tuple(scores.shape)}')
    if idxs is not None and idxs.shape != boxes.shape[:1]:
        raise ValueError(f'idxs must have shape [N] = [{boxes.shape[0]}], '
                         f'got {tuple(idxs.shape)}')
    check_number('iou_threshold', iou_threshold, -1, 1)
    check_number('beta', beta, 0, low_open=True)


def diou_nms_indices(boxes: Tensor,
                     scores: Tensor,
                     iou_threshold: float,
                     beta: float = 1.0,
                     idxs: Optional[Tensor] = None,
                     use_distance: bool = True,
                     eps: float = 1e-7,
                     block_size: int = BLOCK_SIZE) -> Tensor:
    """Indices kept by greedy (DIoU-)NMS, in descending score order.

    Args:
        boxes: ``[N, 4]`` boxes ``(x1, y1, x2, y2)``; half inputs are
            compared in float32.
        scores: ``[N]`` scores; ties keep the input order.
        iou_threshold: Suppress when ``IoU - (rho^2/c^2)^beta`` exceeds it.
        beta: Exponent of the distance penalty (paper: 1).
        idxs: Optional ``[N]`` class (or image) ids; boxes with different
            ids never suppress each other.
        use_distance: ``False`` gives classic NMS.
        eps: Lower bound of the union and added to ``c^2``.
        block_size: Candidates resolved together.

    Returns:
        ``[K]`` int64 indices into ``boxes``.
    """
    _check_nms_args(boxes, scores, iou_threshold, beta, idxs)
    return _greedy_keep(boxes, scores, iou_threshold, beta, idxs, use_distance,
                        eps, block_size)


def _greedy_keep(boxes: Tensor, scores: Tensor, iou_threshold: float,
                 beta: float, idxs: Optional[Tensor], use_distance: bool,
                 eps: float, block_size: int) -> Tensor:
    """:func:`diou_nms_indices` on checked arguments."""
    if boxes.dtype in (torch.float16, torch.bfloat16):
        boxes = boxes.float()
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order]
    sorted_ids = idxs[order] if idxs is not None else None
    kept_parts = []
    kept_boxes = sorted_boxes[:0]
    kept_ids = sorted_ids[:0] if sorted_ids is not None else None
    for start in range(0, order.numel(), block_size):
        block = sorted_boxes[start:start + block_size]
        block_ids = (
            sorted_ids[start:start +
                       block_size] if sorted_ids is not None else None)
        alive = torch.ones(
            block.shape[0], dtype=torch.bool, device=boxes.device)
        if kept_boxes.shape[0]:
            hit = suppression_matrix(kept_boxes, block, iou_threshold, beta,
                                     use_distance, eps)
            if block_ids is not None and kept_ids is not None:
                hit &= kept_ids[:, None] == block_ids[None, :]
            alive = ~hit.any(0)
        cand = alive.nonzero().squeeze(1)
        cand_boxes = block[cand]
        # hit[i, j]: candidate i (higher score) would suppress candidate j.
        hit = suppression_matrix(cand_boxes, cand_boxes, iou_threshold, beta,
                                 use_distance, eps).triu_(diagonal=1)
        if block_ids is not None:
            cand_ids = block_ids[cand]
            hit &= cand_ids[:, None] == cand_ids[None, :]
        keep = torch.ones_like(cand, dtype=torch.bool)
        while True:
            new_keep = ~(hit & keep[:, None]).any(0)
            if torch.equal(new_keep, keep):
                break
            keep = new_keep
        chosen = cand[keep]
        kept_parts.append(chosen + start)
        kept_boxes = torch.cat([kept_boxes, block[chosen]])
        if block_ids is not None and kept_ids is not None:
            kept_ids = torch.cat([kept_ids, block_ids[chosen]])
    if not kept_parts:
        return order[:0]
    return order[torch.cat(kept_parts)]


def diou_nms(boxes: Tensor,
             scores: Tensor,
             iou_threshold: float,
             beta: float = 1.0,
             score_threshold: float = 0.0,
             max_num: int = -1,
             idxs: Optional[Tensor] = None,
             use_distance: bool = True,
             eps: float = 1e-7) -> Tuple[Tensor, Tensor]:
    """DIoU-NMS with the signature and outputs of mmcv's ``nms``.

    Args:
        boxes: ``[N, 4]`` boxes ``(x1, y1, x2, y2)``.
        scores: ``[N]`` scores.
        iou_threshold: Suppress when ``IoU - (rho^2/c^2)^beta`` exceeds it.
        beta: Exponent of the distance penalty.
        score_threshold: Boxes scoring ``<=`` it are dropped first (when
            ``> 0``, as mmcv does).
        max_num: Keep at most this many (``<= 0``: all).
        idxs: Optional ``[N]`` class ids for class-aware suppression.
        use_distance: ``False`` gives classic NMS.
        eps: Lower bound of the union and added to ``c^2``.

    Returns:
        ``dets`` ``[K, 5]`` (boxes and score, descending score) and
        ``keep`` ``[K]`` indices into the input.
    """
    _check_nms_args(boxes, scores, iou_threshold, beta, idxs)
    valid = None
    if score_threshold > 0:
        valid = (scores > score_threshold).nonzero().squeeze(1)
        boxes, scores = boxes[valid], scores[valid]
        idxs = idxs[valid] if idxs is not None else None
    keep = _greedy_keep(boxes, scores, iou_threshold, beta, idxs, use_distance,
                        eps, BLOCK_SIZE)
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([boxes[keep], scores[keep, None].to(boxes.dtype)], 1)
    if valid is not None:
        keep = valid[keep]
    return dets, keep
