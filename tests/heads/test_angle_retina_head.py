"""AngleRetinaHead: angle targets of positive anchors, losses, decoded
angles carried through NMS."""
import math

import pytest
import torch
from head_helpers import build_retina
from mmdet.models.dense_heads import RetinaHead
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet_lossplus.heads import AngleRetinaHead

MULTIBIN = dict(
    angle_coder=dict(
        type='mmdet_lossplus.MultiBinCoder', num_bins=6, overlap=0.3),
    loss_angle=dict(
        type='mmdet_lossplus.MultiBinLoss', num_bins=6, overlap=0.3))
SINCOS = dict(
    angle_coder=dict(type='mmdet_lossplus.SinCosAngleCoder'),
    loss_angle=dict(type='MSELoss'))


def _angle_batch(seed):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(2, 8, s, s, generator=g) for s in (8, 4, 2)]
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2
    gts = []
    for angle in (1.0, -2.5):  # one object per image, known angle
        xy = torch.rand(1, 2, generator=g) * 30
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + 24], 1),
                labels=torch.tensor([1]),
                angles=torch.tensor([angle])))
    return feats, gts, metas


@pytest.mark.parametrize('variant', [MULTIBIN, SINCOS])
def test_losses_and_gradient_reach_the_angle_branch(variant):
    head = build_retina(AngleRetinaHead, **variant)
    feats, gts, metas = _angle_batch(0)
    losses = head.loss_by_feat(*head(feats), gts, metas)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_angle'}
    assert torch.isfinite(losses['loss_angle']) and losses['loss_angle'] > 0
    losses['loss_angle'].backward()
    assert head.retina_angle.weight.grad.abs().sum() > 0
    assert head.retina_cls.weight.grad is None  # angle loss is its own


def test_positive_anchors_get_their_ground_truth_angle():
    head = build_retina(AngleRetinaHead, **MULTIBIN)
    feats, gts, metas = _angle_batch(1)
    cls_scores = head(feats)[0]
    _, labels, *_, extra = head.flat_targets(cls_scores, gts, metas)
    angles = extra[0]
    per_image = labels.numel() // 2
    for i, want in enumerate((1.0, -2.5)):
        rows = slice(i * per_image, (i + 1) * per_image)
        pos = (labels[rows] >= 0) & (labels[rows] < head.num_classes)
        assert pos.sum() > 0
        assert torch.allclose(angles[rows][pos],
                              torch.full_like(angles[rows][pos], want))
        assert (angles[rows][~pos] == 0).all()


def test_predicted_angles_follow_their_boxes_through_nms():
    head = build_retina(AngleRetinaHead, **MULTIBIN)
    # a constant angle output: every anchor predicts 0.7 rad
    target = head.angle_coder.encode(torch.tensor([0.7]))[0]
    with torch.no_grad():
        head.retina_angle.weight.zero_()
        head.retina_angle.bias.copy_(
            (target * 20 - 10 * (torch.arange(18) < 6)).repeat(
                head.num_base_priors))
    feats, _, metas = _angle_batch(2)
    cfg = ConfigDict(
        nms_pre=100,
        min_bbox_size=0,
        score_thr=0.0,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=20)
    with torch.no_grad():
        results = head.predict_by_feat(
            *head(feats), batch_img_metas=metas, cfg=cfg)
    for r in results:
        assert len(r.angles) == len(r.bboxes) == 20
        assert torch.allclose(
            r.angles, torch.full_like(r.angles, 0.7), atol=1e-4)


def test_boxes_scores_equal_the_plain_head():
    ours = build_retina(AngleRetinaHead, **SINCOS)
    ref = build_retina(RetinaHead)
    missing = ours.load_state_dict(ref.state_dict(), strict=False)
    assert sorted(
        missing.missing_keys) == ['retina_angle.bias', 'retina_angle.weight']
    assert not missing.unexpected_keys
    feats, _, metas = _angle_batch(3)
    cfg = ConfigDict(
        nms_pre=100,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=50)
    with torch.no_grad():
        a = ours.predict_by_feat(*ours(feats), batch_img_metas=metas, cfg=cfg)
        cls_scores, bbox_preds = ref(feats)
        b = ref.predict_by_feat(
            cls_scores, bbox_preds, batch_img_metas=metas, cfg=cfg)
    for x, y in zip(a, b):
        assert torch.equal(x.bboxes, y.bboxes)
        assert torch.equal(x.scores, y.scores)
        assert (x.angles.abs() <= math.pi).all()


def test_configuration_errors():
    with pytest.raises(ValueError, match='same bins'):
        build_retina(
            AngleRetinaHead,
            angle_coder=dict(type='mmdet_lossplus.MultiBinCoder', num_bins=6),
            loss_angle=dict(type='mmdet_lossplus.MultiBinLoss', num_bins=4))
    head = build_retina(AngleRetinaHead, **SINCOS)
    feats, gts, metas = _angle_batch(4)
    for gt in gts:
        del gt.angles
    with pytest.raises(ValueError, match='gt_instances.angles'):
        head.loss_by_feat(*head(feats), gts, metas)
