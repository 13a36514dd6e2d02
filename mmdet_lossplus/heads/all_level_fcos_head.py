"""FCOS head with the global normalisers and global reported values."""
from typing import List

import torch
from mmdet.models.dense_heads import FCOSHead
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from ..registry import MODELS
from .configurable_nms import ConfigurableNMSMixin
from .global_batch import GlobalBatchHeadMixin


@MODELS.register_module()
class AllLevelFCOSHead(GlobalBatchHeadMixin, ConfigurableNMSMixin, FCOSHead):
    """mmdet's ``FCOSHead`` with the global-batch normalisers.

    mmdet's FCOS already calls each loss once over all levels and images;
    what changes is the normalisation and the reported value. mmdet takes
    ``max(mean over ranks of the positives, 1)``: bounded per rank, and each
    rank logs its own value. Here the bound applies to the global count
    (as one process on the union would), losses that reduce globally
    themselves get the local count, and every rank reports the global
    value. Same arguments, layers, parameter names, targets (centre
    sampling, ``norm_on_bbox``...) and predictions as mmdet's ``FCOSHead``;
    with focal and IoU one process computes what mmdet computes.
    ``test_cfg.nms`` may name DIoU-NMS.

    Takes mmdet's arguments plus ``scope`` (see
    :class:`~mmdet_lossplus.heads.global_batch.GlobalBatchHeadMixin`).
    """

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            centernesses: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        device = bbox_preds[0].device
        points = self.prior_generator.grid_priors(
            featmap_sizes, dtype=bbox_preds[0].dtype, device=device)
        labels, bbox_targets = self.get_targets(points, batch_gt_instances)
        num_imgs = cls_scores[0].size(0)
        # mmdet's order: level-major, then image, then location
        cls_score = torch.cat([
            x.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)
            for x in cls_scores
        ])
        bbox_pred = torch.cat(
            [x.permute(0, 2, 3, 1).reshape(-1, 4) for x in bbox_preds])
        centerness = torch.cat(
            [x.permute(0, 2, 3, 1).reshape(-1) for x in centernesses])
        labels = torch.cat(labels)
        bbox_targets = torch.cat(bbox_targets)
        flat_points = torch.cat([p.repeat(num_imgs, 1) for p in points])

        # the positives' rows: one host sync (their number)
        pos = ((labels >= 0) & (labels < self.num_classes)).nonzero()[:, 0]
        local_pos = max(float(pos.numel()), 1.0)
        norm, world = self.normaliser(float(pos.numel()), device, minimum=1.0)
        losses = dict(
            loss_cls=self.call_loss(self.loss_cls, cls_score, labels, None,
                                    norm, local_pos))
        if getattr(self.loss_cls, 'custom_accuracy', False):  # as mmdet
            losses.update(self.loss_cls.get_accuracy(cls_score, labels))

        pos_targets = bbox_targets[pos]
        centerness_targets = self.centerness_target(pos_targets)
        ct_sum = centerness_targets.sum().detach()
        ct_norm, _ = self.normaliser(ct_sum, device, minimum=1e-6)
        pos_points = flat_points[pos]
        # empty when this rank has no positive: the losses then give 0
        # with the graph connected, and every rank still enters the same
        # collectives
        losses['loss_bbox'] = self.call_loss(
            self.loss_bbox, self.bbox_coder.decode(pos_points, bbox_pred[pos]),
            self.bbox_coder.decode(pos_points, pos_targets),
            centerness_targets, ct_norm, ct_sum.clamp(min=1e-6))
        losses['loss_centerness'] = self.call_loss(self.loss_centerness,
                                                   centerness[pos],
                                                   centerness_targets, None,
                                                   norm, local_pos)
        # the accuracy of a custom loss_cls (if any) is not a loss value
        loss_keys = ('loss_cls', 'loss_bbox', 'loss_centerness')
        reported = self.report_global({k: losses[k] for k in loss_keys}, world)
        return {**losses, **reported}
