"""aLRP-RetinaNet: RetinaNet whose both branches train through aLRP loss
(Oksuz et al., NeurIPS 2020), on the global-batch mechanism."""
from typing import List

from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from ..losses.alrp import aLRPLoss
from ..registry import MODELS
from .all_level_retina_head import AllLevelRetinaHead
from .global_batch import flatten_levels, require_ranking_loss


@MODELS.register_module()
class aLRPRetinaHead(AllLevelRetinaHead):  # noqa: N801 (the paper's name)
    """RetinaNet head trained with aLRP loss, as the authors'
    ``aLRPLossRetinaHead``: ``loss_cls`` is an
    :class:`~mmdet_lossplus.aLRPLoss`, ``loss_bbox`` gives the
    per-positive localisation error (``GIoULoss(reduction='none')``: the
    authors' GIoU loss, already ``(1 - GIoU) / 2 / (1 - tau)`` at ``tau =
    0.5``) on the decoded boxes; the box branch trains only through aLRP's
    localisation part. Layers and names are mmdet's ``RetinaHead``
    (checkpoints load strictly both ways).

    Returns ``loss_cls`` (the classification part) and ``loss_bbox``
    (self-balanced localisation part), both global in ``scope='global'``.
    Takes mmdet's ``RetinaHead`` arguments plus ``scope``.
    """

    def __init__(self,
                 *args,
                 loss_cls: dict = dict(
                     type='mmdet_lossplus.aLRPLoss', use_sigmoid=True),
                 loss_bbox: dict = dict(type='GIoULoss', reduction='none'),
                 **kwargs) -> None:
        super().__init__(
            *args, loss_cls=loss_cls, loss_bbox=loss_bbox, **kwargs)
        require_ranking_loss(self, aLRPLoss)

    def loss_by_feat(
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        (anchors, labels, label_weights, bbox_targets, _, _,
         _) = self.flat_targets(cls_scores, batch_gt_instances,
                                batch_img_metas, batch_gt_instances_ignore)
        cls_score = flatten_levels(cls_scores, self.cls_out_channels)
        bbox_pred = flatten_levels(bbox_preds, self.bbox_coder.encode_size)
        # the positives' rows: one host sync (their number)
        pos = ((labels >= 0) & (labels < self.num_classes)).nonzero()[:, 0]
        pos_anchors = anchors[pos]
        decoded = get_box_tensor(
            self.bbox_coder.decode(pos_anchors, bbox_pred[pos]))
        target_boxes = bbox_targets[pos]
        if not self.reg_decoded_bbox:
            target_boxes = get_box_tensor(
                self.bbox_coder.decode(pos_anchors, target_boxes))
        # mmdet's bbox_overlaps returns a graph-less tensor for 0 boxes: the
        # 0 keeps the box branch in the graph on a rank without positives
        loc_errors = self.loss_bbox(
            decoded, target_boxes, reduction_override='none') + \
            0 * decoded.sum()
        loss_cls, loss_bbox = self.loss_cls(
            cls_score, labels, label_weights, loc_errors=loc_errors)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)
