"""RS-ATSS: the ATSS head trained with Rank & Sort loss (Oksuz et al.,
ICCV 2021), on the global-batch mechanism."""
from typing import List, Optional, Tuple

import torch
from mmcv.cnn import Scale
from mmdet.structures.bbox import bbox_overlaps, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from .. import dist
from ..losses.rank_sort import RankSortLoss
from ..registry import MODELS
from .all_level_atss_head import AllLevelATSSHead
from .global_batch import require_ranking_loss


@MODELS.register_module()
class RankSortATSSHead(AllLevelATSSHead):
    """RS-ATSS (Rank & Sort paper, Sec. 4): ATSS without the centerness
    branch, ``loss_cls`` a :class:`~mmdet_lossplus.RankSortLoss` whose
    positives' targets are the IoUs of their predicted boxes.

    As the authors' ``RankBasedATSSHead``: the box loss (GIoU, per
    positive) is weighted by each positive's largest class probability and
    normalised by their sum, then scaled by the value-based self-balance
    ``(ranking + sorting loss) / box loss`` (both detached: the box loss's
    value equals the classification loss's, its gradient is scaled). In
    ``scope='global'`` the IoU targets, the ranking, the weights' sum and
    the self-balance ratio are those of the global mini-batch, so W ranks x
    b images train as one process with W*b. Layers and names are mmdet's
    ``ATSSHead`` without ``atss_centerness`` (an mmdet ATSS checkpoint
    loads with exactly that branch unexpected).

    Returns ``loss_rank``, ``loss_sort`` and ``loss_bbox``. Takes mmdet's
    ``ATSSHead`` arguments (``loss_centerness`` is ignored) plus
    ``scope``.
    """

    def __init__(self,
                 *args,
                 loss_cls: dict = dict(
                     type='mmdet_lossplus.RankSortLoss',
                     delta=0.5,
                     use_sigmoid=True),
                 loss_bbox: dict = dict(type='GIoULoss', reduction='none'),
                 **kwargs) -> None:
        super().__init__(
            *args, loss_cls=loss_cls, loss_bbox=loss_bbox, **kwargs)
        require_ranking_loss(self, RankSortLoss)

    def _init_layers(self) -> None:
        super()._init_layers()
        del self.atss_centerness  # RS-ATSS has no centerness branch

    def forward_single(self, x: Tensor, scale: Scale) -> Tuple[Tensor, ...]:
        cls_feat, reg_feat = x, x
        for cls_conv in self.cls_convs:
            cls_feat = cls_conv(cls_feat)
        for reg_conv in self.reg_convs:
            reg_feat = reg_conv(reg_feat)
        cls_score = self.atss_cls(cls_feat)
        bbox_pred = scale(self.atss_reg(reg_feat)).float()
        return cls_score, bbox_pred

    def loss_by_feat(  # type: ignore[override] # no centerness
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        (anchors, labels, label_weights, bbox_targets, _, cls_score, bbox_pred,
         pos) = self.flat_targets(cls_scores, bbox_preds, batch_gt_instances,
                                  batch_img_metas, batch_gt_instances_ignore)
        device = cls_score.device
        pos_targets = bbox_targets[pos]
        decoded = get_box_tensor(
            self.bbox_coder.decode(anchors[pos], bbox_pred[pos]))
        # float32 whatever the scores' precision (fp16 under autocast):
        # the sorting targets must not be rounded to 3 digits
        ious = torch.zeros(labels.shape, dtype=torch.float32, device=device)
        ious[pos] = bbox_overlaps(
            decoded.detach().float(), pos_targets.float(),
            is_aligned=True).clamp(0, 1).float()
        loss_rank, loss_sort = self.loss_cls(cls_score, (labels, ious),
                                             label_weights)

        # mmdet's bbox_overlaps returns a graph-less tensor for 0 boxes: the
        # 0 keeps the box branch in the graph on a rank without positives
        box_losses = self.loss_bbox(
            decoded, pos_targets, reduction_override='none') + \
            0 * decoded.sum()
        # each positive's box loss weighted by its largest class
        # probability (detached), normalised by their (global) sum
        weights = cls_score[pos].detach().float().sigmoid().amax(1)
        norm, world = self.normaliser(weights.sum(), device, minimum=1e-12)
        loss_bbox = (weights * box_losses).sum() / norm
        loss_bbox = self.self_balance(loss_rank + loss_sort, loss_bbox, world)
        return dict(
            loss_rank=loss_rank, loss_sort=loss_sort, loss_bbox=loss_bbox)

    @staticmethod
    def self_balance(cls_loss: Tensor, box_loss: Tensor, world: int) -> Tensor:
        """``box_loss`` scaled by ``cls / box`` of the (global) values,
        detached (0 when the box loss is 0: no positive anywhere); with W
        ranks its value is the global one on every rank (one all-reduce
        serves the ratio and the report), its gradient unchanged."""
        local = box_loss.detach()
        box = dist.all_reduce_sum(local) / world if world > 1 else local
        cls = cls_loss.detach()
        ratio = torch.where(box > 0, cls / box.clamp_min(1e-30),
                            torch.zeros_like(box))
        return box_loss * ratio + (box - local) * ratio

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        **kwargs):
        # no centerness: the class scores alone rank the detections
        return super().predict_by_feat(cls_scores, bbox_preds, None, **kwargs)
