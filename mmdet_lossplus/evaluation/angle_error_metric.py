"""Orientation error of matched detections, next to COCO's box metrics."""
import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ..checks import check_number
from ..coders.angle_coders import wrap_angle
from ..functional.diou_nms import pairwise_diou
from ..registry import METRICS


def match_detections(pred_boxes: torch.Tensor, pred_scores: torch.Tensor,
                     pred_labels: torch.Tensor, gt_boxes: torch.Tensor,
                     gt_labels: torch.Tensor, iou_thr: float) -> List[tuple]:
    """Greedy matching in score order: each detection takes the unmatched
    ground truth of its class with the highest IoU >= ``iou_thr``.

    Returns:
        ``[(pred_index, gt_index), ...]``.
    """
    if pred_boxes.numel() == 0 or gt_boxes.numel() == 0:
        return []
    iou = pairwise_diou(
        pred_boxes.double(), gt_boxes.double(), use_distance=False)
    iou[pred_labels[:, None] != gt_labels[None, :]] = -1
    taken = torch.zeros(gt_boxes.shape[0], dtype=torch.bool)
    pairs = []
    # Python loop: evaluation only, a few detections per image
    for i in torch.argsort(pred_scores, descending=True, stable=True):
        row = iou[i].masked_fill(taken, -1)
        best = int(row.argmax())
        if row[best] >= iou_thr:
            taken[best] = True
            pairs.append((int(i), best))
    return pairs


@METRICS.register_module()
class AngleErrorMetric(BaseMetric):
    """Mean absolute angular error of detections matched to ground truth.

    Detections scoring at least ``score_thr`` are matched greedily to
    ground truth of the same class with IoU >= ``iou_thr``; the error of a
    pair is the absolute difference of ``pred_instances.angles`` and
    ``gt_instances.angles`` wrapped to ``[0, 180]`` degrees. Reports the
    mean (``angle/mae``), the median, the share of pairs within 15 degrees
    and the number of matched pairs. Boxes are compared in the original
    image frame (ground truth divided by the resize ``scale_factor``).

    Objects that look the same turned by half a turn (a handwritten 0, 1
    or 8) have no defined orientation beyond 180 degrees: with
    ``half_turn_labels`` the same statistics are also reported with their
    errors taken modulo 180 degrees (``*_sym``).

    Args:
        score_thr: Minimum detection score.
        iou_thr: Minimum IoU of a match.
        half_turn_labels: Class indices symmetric under a half turn.
        prefix: Prefix of the metric names.
    """
    default_prefix: Optional[str] = 'angle'

    def __init__(self,
                 score_thr: float = 0.3,
                 iou_thr: float = 0.5,
                 half_turn_labels: Sequence[int] = (),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        check_number('score_thr', score_thr, 0, 1)
        check_number('iou_thr', iou_thr, 0, 1, low_open=True)
        if isinstance(half_turn_labels, (str, bytes)) or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 0
                for k in half_turn_labels):
            raise TypeError('half_turn_labels must be a sequence of class '
                            f'ids (ints >= 0), got {half_turn_labels!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.score_thr = float(score_thr)
        self.iou_thr = float(iou_thr)
        self.half_turn_labels = {int(k) for k in half_turn_labels}

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_instances']
            gt = sample['gt_instances']
            if 'angles' not in pred or 'angles' not in gt:
                raise ValueError(
                    'AngleErrorMetric needs pred_instances.angles (a head '
                    'with an angle branch) and gt_instances.angles (the '
                    'LoadAngles and PackDetInputsWithAngles transforms)')
            gt_boxes = gt['bboxes']
            gt_boxes = getattr(gt_boxes, 'tensor', gt_boxes).cpu().double()
            sx, sy = sample.get('scale_factor', (1.0, 1.0))
            gt_boxes = gt_boxes / gt_boxes.new_tensor([sx, sy, sx, sy])
            keep = pred['scores'] >= self.score_thr
            pairs = match_detections(pred['bboxes'][keep].cpu(),
                                     pred['scores'][keep].cpu(),
                                     pred['labels'][keep].cpu(), gt_boxes,
                                     gt['labels'].cpu(), self.iou_thr)
            pred_angles = pred['angles'][keep].cpu().double()
            gt_angles = torch.as_tensor(gt['angles']).cpu().double()
            gt_labels = gt['labels'].cpu()
            for i, j in pairs:
                err = wrap_angle(pred_angles[i] - gt_angles[j]).abs()
                self.results.append(
                    (float(err) * 180 / math.pi, int(gt_labels[j])))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        if not results:
            logger.warning('AngleErrorMetric: no matched detection')
            return dict(
                mae=float('nan'), median=float('nan'), acc15=0.0, matched=0)
        err = torch.tensor([e for e, _ in results], dtype=torch.float64)
        metrics = dict(
            mae=round(float(err.mean()), 2),
            median=round(float(err.median()), 2),
            acc15=round(float((err <= 15).double().mean()), 4),
            matched=int(err.numel()))
        if self.half_turn_labels:
            sym = torch.tensor([
                min(e, 180.0 - e) if lab in self.half_turn_labels else e
                for e, lab in results
            ],
                               dtype=torch.float64)
            metrics.update(
                mae_sym=round(float(sym.mean()), 2),
                median_sym=round(float(sym.median()), 2),
                acc15_sym=round(float((sym <= 15).double().mean()), 4))
        logger.info('angle error of matched detections (degrees): ' +
                    ', '.join(f'{k} {v}' for k, v in metrics.items()))
        return metrics
