"""RetinaNet head whose losses see all FPN levels and images in one call."""
from typing import List

import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.structures.bbox import cat_boxes, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from ..registry import MODELS
from .configurable_nms import ConfigurableNMSMixin


def flatten_levels(per_level: List[Tensor], channels: int) -> Tensor:
    """``[N, A*K, H, W]`` per level -> ``[N * sum(H*W*A), K]``.

    Rows are ordered image-major, then level, then location and anchor,
    the order of ``images_to_levels`` inverted (matching the targets).
    """
    n = per_level[0].shape[0]
    flat = [x.permute(0, 2, 3, 1).reshape(n, -1, channels) for x in per_level]
    return torch.cat(flat, dim=1).reshape(-1, channels)


@MODELS.register_module()
class AllLevelRetinaHead(ConfigurableNMSMixin, RetinaHead):
    """mmdet's ``RetinaHead`` with one loss call over all levels and images.

    mmdet calls ``loss_cls``/``loss_bbox`` once per FPN level, so a loss with
    batch statistics (GHM's histogram, a ranking) sees five small batches
    and, with momentum, updates its EMA five times per iteration. This head
    concatenates every level of every image and calls each loss once.
    Layers and parameter names are mmdet's, so ``RetinaHead`` checkpoints
    (model-zoo ones included) load strictly and vice versa.

    For losses that use ``avg_factor`` (focal, L1) the result equals mmdet's
    per-level sum exactly, since each level was divided by the same factor.
    ``test_cfg.nms`` may be ``dict(type='mmdet_lossplus.diou_nms', ...)``.
    """

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=device)
        # unmap_outputs keeps every anchor so rows match the predictions.
        (labels_list, label_weights_list, bbox_targets_list, bbox_weights_list,
         avg_factor) = self.get_targets(
             anchor_list,
             valid_flag_list,
             batch_gt_instances,
             batch_img_metas,
             batch_gt_instances_ignore=batch_gt_instances_ignore,
             unmap_outputs=True)

        labels = torch.cat(labels_list, dim=1).reshape(-1)
        label_weights = torch.cat(label_weights_list, dim=1).reshape(-1)
        bbox_targets = torch.cat(bbox_targets_list, dim=1)
        bbox_targets = bbox_targets.reshape(-1, bbox_targets.size(-1))
        bbox_weights = torch.cat(bbox_weights_list, dim=1)
        bbox_weights = bbox_weights.reshape(-1, bbox_weights.size(-1))

        cls_score = flatten_levels(cls_scores, self.cls_out_channels)
        bbox_pred = flatten_levels(bbox_preds, self.bbox_coder.encode_size)
        loss_cls = self.loss_cls(
            cls_score, labels, label_weights, avg_factor=avg_factor)
        if self.reg_decoded_bbox:
            anchors = torch.cat(
                [get_box_tensor(cat_boxes(a)) for a in anchor_list], dim=0)
            bbox_pred = get_box_tensor(
                self.bbox_coder.decode(anchors, bbox_pred))
        loss_bbox = self.loss_bbox(
            bbox_pred, bbox_targets, bbox_weights, avg_factor=avg_factor)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)
