"""RetinaNet head whose losses see all FPN levels and images in one call."""
from typing import List, Optional

import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.structures.bbox import cat_boxes, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from ..registry import MODELS
from .configurable_nms import ConfigurableNMSMixin
from .global_batch import GlobalBatchHeadMixin, flatten_levels, join_levels


@MODELS.register_module()
class AllLevelRetinaHead(GlobalBatchHeadMixin, ConfigurableNMSMixin,
                         RetinaHead):
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

    Distributed (``scope='global'``, the default): losses that are
    normalised by ``avg_factor`` (focal, L1, IoU...) are divided by the
    *global* positive count and report the global value on every rank, so
    W processes with b images train exactly as one with W*b images
    (docs/design.md, exactness; mmdet divides by the local count). Losses
    that declare they reduce globally themselves (our GHM and AP-loss, see
    :func:`~mmdet_lossplus.losses.contract.loss_traits`) are left alone. A
    single process issues no collective and computes what mmdet computes.

    Takes mmdet's arguments plus ``scope`` (see
    :class:`~mmdet_lossplus.heads.global_batch.GlobalBatchHeadMixin`).
    """

    def flat_targets(
            self,
            cls_scores: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> tuple:
        """Targets of every anchor of every level and image, rows ordered
        as :func:`flatten_levels` orders predictions.

        Returns:
            ``(anchors [R, 4], labels [R], label_weights [R],
            bbox_targets [R, 4], bbox_weights [R, 4], avg_factor, extra)``
            where ``extra`` lists the flattened additional returns of
            ``_get_targets_single`` (subclasses add their own targets).
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=device)
        # unmap_outputs keeps every anchor so rows match the predictions.
        targets = self.get_targets(
            anchor_list,
            valid_flag_list,
            batch_gt_instances,
            batch_img_metas,
            batch_gt_instances_ignore=batch_gt_instances_ignore,
            unmap_outputs=True)
        avg_factor = targets[4]

        anchors = torch.cat(
            [get_box_tensor(cat_boxes(a)) for a in anchor_list], dim=0)
        labels, label_weights, bbox_targets, bbox_weights = (
            join_levels(t) for t in targets[:4])
        extra = [join_levels(t) for t in targets[5:]]
        return (anchors, labels, label_weights, bbox_targets, bbox_weights,
                avg_factor, extra)

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        targets = self.flat_targets(cls_scores, batch_gt_instances,
                                    batch_img_metas, batch_gt_instances_ignore)
        return self.cls_bbox_losses(cls_scores, bbox_preds, targets)

    def cls_bbox_losses(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        targets: tuple,
                        normaliser: Optional[tuple] = None) -> dict:
        """``loss_cls`` and ``loss_bbox``, one call each, given
        :meth:`flat_targets` (and :meth:`normaliser`'s result, computed
        here when not given)."""
        (anchors, labels, label_weights, bbox_targets, bbox_weights,
         avg_factor, _) = targets
        norm, world = normaliser or self.normaliser(avg_factor,
                                                    cls_scores[0].device)
        cls_score = flatten_levels(cls_scores, self.cls_out_channels)
        bbox_pred = flatten_levels(bbox_preds, self.bbox_coder.encode_size)
        loss_cls = self.call_loss(self.loss_cls, cls_score, labels,
                                  label_weights, norm, avg_factor)
        if self.reg_decoded_bbox:
            bbox_pred = get_box_tensor(
                self.bbox_coder.decode(anchors, bbox_pred))
        loss_bbox = self.call_loss(self.loss_bbox, bbox_pred, bbox_targets,
                                   bbox_weights, norm, avg_factor)
        return self.report_global(
            dict(loss_cls=loss_cls, loss_bbox=loss_bbox), world)
