"""RetinaNet head whose losses see all FPN levels and images in one call."""
from typing import List, Optional

import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.structures.bbox import cat_boxes, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from .. import dist
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

    Distributed (``global_avg_factor=True``, the default): losses that are
    normalised by ``avg_factor`` (focal, L1, IoU...) are divided by the
    *global* positive count and report the global value on every rank, so
    W processes with b images train exactly as one with W*b images
    (docs/design.md, exactness; mmdet divides by the local count). Losses that
    reduce globally themselves (our GHM, AP-loss) are left alone. A single
    process issues no collective and computes what mmdet computes.

    Args:
        global_avg_factor: Normalise by the global positive count.
    """

    def __init__(self, *args, global_avg_factor: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.global_avg_factor = bool(global_avg_factor)

    def normaliser(self, avg_factor: float, device) -> tuple:
        """``(avg_factor for the losses, world size W)``: ``N_global / W``
        when normalising globally (a loss then returns ``W * local_sum /
        N_global``, whose DDP average of gradients is exact), else the local
        ``avg_factor`` and 1."""
        if not (self.global_avg_factor and dist.is_distributed()):
            return avg_factor, 1
        w = dist.world_size()
        n = dist.all_reduce_sum(
            torch.tensor([float(avg_factor)],
                         dtype=torch.float64,
                         device=device))
        return (n / w).float().squeeze(0), w

    def call_loss(self, loss_module, pred: Tensor, target: Tensor,
                  weight: Tensor, avg_factor, local_avg_factor) -> Tensor:
        """A loss called with the global normaliser unless it reduces
        globally itself."""
        if getattr(loss_module, 'reduces_globally', False):
            return loss_module(
                pred, target, weight, avg_factor=local_avg_factor)
        return loss_module(pred, target, weight, avg_factor=avg_factor)

    @staticmethod
    def report_global(losses: dict, modules: dict, world: int) -> dict:
        """Make every rank report the global value of the normalised
        losses (one all-reduce for all of them); gradients unchanged."""
        keys = [
            k for k in losses
            if world > 1 and not getattr(modules[k], 'reduces_globally', False)
        ]
        if not keys:
            return losses
        local = torch.stack([losses[k].detach().float() for k in keys])
        total = dist.all_reduce_sum(local) / world
        out = dict(losses)
        for i, k in enumerate(keys):
            out[k] = losses[k] + (total[i] - local[i]).to(losses[k].dtype)
        return out

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

        def flat(per_level: List[Tensor]) -> Tensor:
            joined = torch.cat(per_level, dim=1)
            return joined.reshape(-1, *joined.shape[2:])

        anchors = torch.cat(
            [get_box_tensor(cat_boxes(a)) for a in anchor_list], dim=0)
        labels, label_weights, bbox_targets, bbox_weights = (
            flat(t) for t in targets[:4])
        extra = [flat(t) for t in targets[5:]]
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
            dict(loss_cls=loss_cls, loss_bbox=loss_bbox),
            dict(loss_cls=self.loss_cls, loss_bbox=self.loss_bbox), world)
