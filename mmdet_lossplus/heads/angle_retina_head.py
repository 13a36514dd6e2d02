"""RetinaNet head with an orientation branch (one angle per box)."""
from typing import Dict, List, Optional

import torch
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.utils import filter_scores_and_topk
from mmdet.structures.bbox import cat_boxes
from mmdet.utils import ConfigType, InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..registry import MODELS, TASK_UTILS
from .all_level_retina_head import AllLevelRetinaHead, flatten_levels


@MODELS.register_module()
class AngleRetinaHead(AllLevelRetinaHead):
    """:class:`AllLevelRetinaHead` plus a 3x3 conv on the regression tower
    that predicts, per anchor, ``angle_coder.channels`` numbers encoding
    the object's orientation.

    Training regresses the encoded angle of each positive anchor's
    ground truth (``gt_instances.angles``, radians) with ``loss_angle``;
    prediction adds ``pred_instances.angles`` (decoded, radians in
    ``[-pi, pi)``). The coder/loss pair decides the method: multi-bin
    (``MultiBinCoder`` + ``MultiBinLoss`` with the same bins), a raw angle
    (``RawAngleCoder`` + ``L1Loss``) or ``(sin, cos)`` (``SinCosAngleCoder``
    + ``MSELoss``). Other layers are mmdet's ``RetinaHead`` ones, so a
    RetinaNet checkpoint loads with only ``retina_angle`` missing.

    Args:
        angle_coder: Config of the coder (``TASK_UTILS``).
        loss_angle: Config of the loss (``MODELS``).
    """

    def __init__(self,
                 *args,
                 angle_coder: ConfigType = dict(
                     type='mmdet_lossplus.MultiBinCoder', num_bins=4),
                 loss_angle: ConfigType = dict(
                     type='mmdet_lossplus.MultiBinLoss', num_bins=4),
                 **kwargs) -> None:
        # _init_layers (called by the parent) needs the coder's channels
        self.angle_coder = TASK_UTILS.build(angle_coder)
        super().__init__(*args, **kwargs)
        self.loss_angle = MODELS.build(loss_angle)
        coder_spec = getattr(self.angle_coder, 'spec', None)
        loss_spec = getattr(self.loss_angle, 'spec', None)
        if (coder_spec is None) != (loss_spec
                                    is None) or (coder_spec is not None
                                                 and coder_spec != loss_spec):
            raise ValueError(
                'angle_coder and loss_angle must describe the same bins, '
                f'got {coder_spec} and {loss_spec}')

    def _init_layers(self) -> None:
        super()._init_layers()
        self.retina_angle = nn.Conv2d(
            self.feat_channels,
            self.num_base_priors * self.angle_coder.channels,
            3,
            padding=1)

    def forward_single(self, x: Tensor) -> tuple:
        cls_feat, reg_feat = x, x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        return (self.retina_cls(cls_feat), self.retina_reg(reg_feat),
                self.retina_angle(reg_feat))

    def _get_targets_single(self,
                            flat_anchors,
                            valid_flags: Tensor,
                            gt_instances: InstanceData,
                            img_meta: dict,
                            gt_instances_ignore: Optional[InstanceData] = None,
                            unmap_outputs: bool = True) -> tuple:
        """mmdet's targets plus, last, the angle of each anchor's assigned
        ground truth (0 for anchors that are not positive)."""
        if 'angles' not in gt_instances:
            raise ValueError(
                'AngleRetinaHead needs gt_instances.angles: load the data '
                'with CocoDatasetWithAngles and the LoadAngles and '
                'PackDetInputsWithAngles transforms')
        res = super()._get_targets_single(flat_anchors, valid_flags,
                                          gt_instances, img_meta,
                                          gt_instances_ignore, unmap_outputs)
        pos_inds, sampling_result = res[4], res[6]
        inside = anchor_inside_flags(flat_anchors, valid_flags,
                                     img_meta['img_shape'][:2],
                                     self.train_cfg['allowed_border'])
        inside_index = inside.nonzero().squeeze(1)
        angles = gt_instances.angles.new_zeros(
            flat_anchors.shape[0] if unmap_outputs else inside_index.numel())
        rows = inside_index[pos_inds] if unmap_outputs else pos_inds
        angles[rows] = gt_instances.angles[
            sampling_result.pos_assigned_gt_inds].to(angles.dtype)
        return res + (angles, )

    def loss_by_feat(  # type: ignore[override] # angle_preds added
            self,
            cls_scores: List[Tensor],
            bbox_preds: List[Tensor],
            angle_preds: List[Tensor],
            batch_gt_instances: InstanceList,
            batch_img_metas: List[dict],
            batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        targets = self.flat_targets(cls_scores, batch_gt_instances,
                                    batch_img_metas, batch_gt_instances_ignore)
        labels, avg_factor, extra = targets[1], targets[5], targets[6]
        # one all-reduce of the positive count for all three losses
        norm, world = self.normaliser(avg_factor, cls_scores[0].device)
        losses = self.cls_bbox_losses(cls_scores, bbox_preds, targets,
                                      (norm, world))
        angle_pred = flatten_levels(angle_preds, self.angle_coder.channels)
        pos = (labels >= 0) & (labels < self.num_classes)
        target = self.angle_coder.encode(extra[0][pos])
        loss_angle = self.call_loss(self.loss_angle, angle_pred[pos], target,
                                    None, norm, avg_factor)
        losses.update(self.report_global(dict(loss_angle=loss_angle), world))
        return losses

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        angle_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """mmdet's dense-head prediction with ``angles`` carried along:
        the per-level top-k, NMS and ``max_per_img`` keep box and angle
        together."""
        cfg = self.test_cfg if cfg is None else cfg
        featmap_sizes = [s.shape[-2:] for s in cls_scores]
        priors = self.prior_generator.grid_priors(
            featmap_sizes,
            dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        results = []
        if batch_img_metas is None:
            raise ValueError('batch_img_metas: one meta dict per image '
                             'expected, got None')
        for i, img_meta in enumerate(batch_img_metas):
            levels = [(c[i], b[i], a[i], p) for c, b, a, p in zip(
                cls_scores, bbox_preds, angle_preds, priors)]
            results.append(
                self._predict_with_angles(levels, img_meta, cfg, rescale,
                                          with_nms))
        return results

    def _predict_with_angles(self, levels: list, img_meta: dict,
                             cfg: ConfigDict, rescale: bool,
                             with_nms: bool) -> InstanceData:
        kept: Dict[str, List[Tensor]] = dict(
            scores=[], labels=[], bbox_pred=[], priors=[], angle=[])
        for cls_score, bbox_pred, angle_pred, priors in levels:
            scores = cls_score.permute(1, 2, 0).reshape(
                -1, self.cls_out_channels).sigmoid()
            scores, labels, _, picked = filter_scores_and_topk(
                scores, cfg.get('score_thr', 0), cfg.get('nms_pre', -1),
                dict(
                    bbox_pred=bbox_pred.permute(1, 2, 0).reshape(
                        -1, self.bbox_coder.encode_size),
                    priors=priors,
                    angle=angle_pred.permute(1, 2, 0).reshape(
                        -1, self.angle_coder.channels)))
            kept['scores'].append(scores)
            kept['labels'].append(labels)
            for key in ('bbox_pred', 'priors', 'angle'):
                kept[key].append(picked[key])
        results = InstanceData()
        results.bboxes = self.bbox_coder.decode(
            cat_boxes(kept['priors']),
            torch.cat(kept['bbox_pred']),
            max_shape=img_meta['img_shape'])
        results.scores = torch.cat(kept['scores'])
        results.labels = torch.cat(kept['labels'])
        results.angles = self.angle_coder.decode(torch.cat(kept['angle']))
        return self._bbox_post_process(
            results=results,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms,
            img_meta=img_meta)
