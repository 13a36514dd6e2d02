"""ATSS head whose losses see all FPN levels and images in one call."""
from typing import List

from mmdet.models.dense_heads import ATSSHead
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from ..losses.contract import loss_traits
from ..registry import MODELS
from .configurable_nms import ConfigurableNMSMixin
from .global_batch import GlobalBatchHeadMixin, flatten_levels, join_levels


def atss_centerness_target(anchors: Tensor, gts: Tensor) -> Tensor:
    """Centerness of each anchor centre inside its assigned box (FCOS,
    Tian et al., ICCV 2019; used by ATSS, Zhang et al., CVPR 2020).

    ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``, as mmdet's
    ``ATSSHead.centerness_target`` but without its NaN assertion (a host
    sync per call; ATSS only assigns anchors whose centre lies inside the
    box, so the ratios are finite).

    Args:
        anchors: ``[P, 4]`` positive anchors, xyxy.
        gts: ``[P, 4]`` their assigned boxes, xyxy.

    Returns:
        ``[P]`` targets in ``[0, 1]``.
    """
    cx = (anchors[:, 2] + anchors[:, 0]) / 2
    cy = (anchors[:, 3] + anchors[:, 1]) / 2
    left, top = cx - gts[:, 0], cy - gts[:, 1]
    right, bottom = gts[:, 2] - cx, gts[:, 3] - cy
    horizontal = left.minimum(right) / left.maximum(right)
    vertical = top.minimum(bottom) / top.maximum(bottom)
    return (horizontal * vertical).sqrt()


@MODELS.register_module()
class AllLevelATSSHead(GlobalBatchHeadMixin, ConfigurableNMSMixin, ATSSHead):
    """mmdet's ``ATSSHead`` with one call per loss over all levels and
    images and the global normalisers.

    Same arguments, layers and parameter names as mmdet's ``ATSSHead``
    (checkpoints load strictly both ways), same targets (ATSS assignment,
    centerness-weighted box loss on decoded boxes). mmdet calls each loss
    once per FPN level; with focal and GIoU the sum of those calls equals
    this head's single call. The normalisers are those of
    :class:`~mmdet_lossplus.heads.global_batch.GlobalBatchHeadMixin`: the
    global positive count for ``loss_cls`` and ``loss_centerness``, the
    global sum of centerness targets (at least 1, as mmdet) for
    ``loss_bbox``. A box loss that reduces globally itself is left
    undivided. ``test_cfg.nms`` may name DIoU-NMS.

    Takes mmdet's arguments plus ``scope`` (see
    :class:`~mmdet_lossplus.heads.global_batch.GlobalBatchHeadMixin`).
    """

    def flat_targets(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> tuple:
        """ATSS targets and predictions of every anchor of every level and
        image, rows in :func:`flatten_levels`'s order, and the positives'
        rows (one host sync: their number).

        Returns:
            ``(anchors [R, 4], labels [R], label_weights [R],
            bbox_targets [R, 4] (boxes), avg_factor, cls_score [R, C],
            bbox_pred [R, 4], pos [P])``.
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in bbox_preds]
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=cls_scores[0].device)
        (anchor_list, labels_list, label_weights_list, bbox_targets_list, _,
         avg_factor) = self.get_targets(
             anchor_list,
             valid_flag_list,
             batch_gt_instances,
             batch_img_metas,
             batch_gt_instances_ignore=batch_gt_instances_ignore)
        labels = join_levels(labels_list)
        pos = ((labels >= 0) & (labels < self.num_classes)).nonzero()[:, 0]
        return (join_levels(anchor_list), labels,
                join_levels(label_weights_list),
                join_levels(bbox_targets_list), avg_factor,
                flatten_levels(cls_scores, self.cls_out_channels),
                flatten_levels(bbox_preds, self.bbox_coder.encode_size), pos)

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            centernesses: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        (anchors, labels, label_weights, bbox_targets, avg_factor, cls_score,
         bbox_pred, pos) = self.flat_targets(cls_scores, bbox_preds,
                                             batch_gt_instances,
                                             batch_img_metas,
                                             batch_gt_instances_ignore)
        device = cls_score.device
        centerness = flatten_levels(centernesses, 1).reshape(-1)

        norm, world = self.normaliser(avg_factor, device)
        loss_cls = self.call_loss(self.loss_cls, cls_score, labels,
                                  label_weights, norm, avg_factor)
        pos_anchors, pos_targets = anchors[pos], bbox_targets[pos]
        centerness_targets = atss_centerness_target(pos_anchors, pos_targets)
        decoded = get_box_tensor(
            self.bbox_coder.decode(pos_anchors, bbox_pred[pos]))
        loss_bbox = self.loss_bbox(
            decoded, pos_targets, weight=centerness_targets, avg_factor=1.0)
        if not loss_traits(self.loss_bbox).reduces_globally:
            bbox_norm, _ = self.normaliser(
                centerness_targets.sum().detach(), device, minimum=1.0)
            loss_bbox = loss_bbox / bbox_norm
        loss_centerness = self.call_loss(self.loss_centerness, centerness[pos],
                                         centerness_targets, None, norm,
                                         avg_factor)
        return self.report_global(
            dict(
                loss_cls=loss_cls,
                loss_bbox=loss_bbox,
                loss_centerness=loss_centerness), world)
