"""Plain transcriptions used only to check the fast code: torchvision's
box-loss formulas (ops/giou_loss.py, diou_loss.py, ciou_loss.py) and the
greedy DIoU-NMS of the DIoU paper as a Python double loop."""
import math

import torch


def _inter_union(boxes1, boxes2):
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1 = torch.max(x1, x1g)
    ykis1 = torch.max(y1, y1g)
    xkis2 = torch.min(x2, x2g)
    ykis2 = torch.min(y2, y2g)
    intsctk = torch.zeros_like(x1)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def tv_giou_loss(boxes1, boxes2, eps=1e-7):
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    intsctk, unionk = _inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    xc1 = torch.min(x1, x1g)
    yc1 = torch.min(y1, y1g)
    xc2 = torch.max(x2, x2g)
    yc2 = torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return 1 - miouk


def tv_diou_iou_loss(boxes1, boxes2, eps=1e-7):
    intsct, union = _inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1 = torch.min(x1, x1g)
    yc1 = torch.min(y1, y1g)
    xc2 = torch.max(x2, x2g)
    yc2 = torch.max(y2, y2g)
    diagonal_distance_squared = ((xc2 - xc1)**2) + ((yc2 - yc1)**2) + eps
    x_p = (x2 + x1) / 2
    y_p = (y2 + y1) / 2
    x_g = (x1g + x2g) / 2
    y_g = (y1g + y2g) / 2
    distance = ((x_p - x_g)**2) + ((y_p - y_g)**2)
    loss = 1 - iou + (distance / diagonal_distance_squared)
    return loss, iou


def tv_ciou_loss(boxes1, boxes2, eps=1e-7):
    diou_loss, iou = tv_diou_iou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    w_pred = x2 - x1
    h_pred = y2 - y1
    w_gt = x2g - x1g
    h_gt = y2g - y1g
    v = (4 / (math.pi**2)) * torch.pow(
        (torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred)), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou_loss + alpha * v


def _box_diou(a, b, beta, use_distance):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    iou = inter / max(area_a + area_b - inter, 1e-12)
    if not use_distance:
        return iou
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    rho2 = (((a[0] + a[2]) - (b[0] + b[2]))**2 + ((a[1] + a[3]) -
                                                  (b[1] + b[3]))**2) / 4
    return iou - (rho2 / (cw * cw + ch * ch))**beta


def reference_diou_nms(boxes,
                       scores,
                       iou_threshold,
                       beta=1.0,
                       idxs=None,
                       use_distance=True):
    """Greedy DIoU-NMS in the paper's words; returns kept indices in score
    order (ties in input order)."""
    boxes = boxes.double().tolist()
    scores = scores.tolist()
    ids = idxs.tolist() if idxs is not None else [0] * len(boxes)
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        if all(ids[k] != ids[i] or _box_diou(boxes[k], boxes[i], beta,
                                             use_distance) <= iou_threshold
               for k in kept):
            kept.append(i)
    return kept
