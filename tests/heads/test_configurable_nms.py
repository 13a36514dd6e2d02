"""test_cfg.nms of our heads may name DIoU-NMS; the head then applies it
class by class; mmcv's own NMS names keep working."""
import pytest
import torch
from head_helpers import build_retina, retina_batch, summed_losses
from iou_reference import reference_diou_nms
from mmdet.models.dense_heads import RetinaHead
from mmengine.config import ConfigDict

from mmdet_lossplus.functional.diou_nms import diou_nms
from mmdet_lossplus.heads import AllLevelRetinaHead, resolve_nms_cfg


def _test_cfg(nms):
    return ConfigDict(
        nms_pre=200, min_bbox_size=0, score_thr=0.0, nms=nms, max_per_img=1000)


def _predict(head, feats, metas, cfg, with_nms=True):
    cls_scores, bbox_preds = head(feats)
    return head.predict_by_feat(
        cls_scores,
        bbox_preds,
        batch_img_metas=metas,
        cfg=cfg,
        rescale=False,
        with_nms=with_nms)


def test_resolve_nms_cfg():
    cfg = resolve_nms_cfg(
        dict(type='mmdet_lossplus.diou_nms', iou_threshold=0.5, beta=0.8))
    assert cfg['type'] is diou_nms
    assert cfg['iou_threshold'] == 0.5 and cfg['beta'] == 0.8
    plain = dict(type='nms', iou_threshold=0.5)
    assert resolve_nms_cfg(plain) is plain
    with pytest.raises(ValueError, match='mmdet_lossplus.diou_nms'):
        resolve_nms_cfg(dict(type='mmdet_lossplus.fast_nms'))


def test_head_applies_diou_nms_per_class():
    head = build_retina(AllLevelRetinaHead)
    feats, _, metas = retina_batch(3)
    with torch.no_grad():
        raw = _predict(head, feats, metas, _test_cfg(None), with_nms=False)
        got = _predict(
            head, feats, metas,
            _test_cfg(
                dict(
                    type='mmdet_lossplus.diou_nms',
                    iou_threshold=0.5,
                    beta=1.0)))
    for r, g in zip(raw, got):
        keep = reference_diou_nms(r.bboxes, r.scores, 0.5, 1.0, r.labels)
        assert 0 < len(keep) < len(r.scores)
        assert torch.equal(g.bboxes, r.bboxes[keep])
        assert torch.equal(g.labels, r.labels[keep])
        assert torch.allclose(g.scores, r.scores[keep])


def test_head_without_distance_equals_mmdet_head_with_mmcv_nms():
    ours = build_retina(AllLevelRetinaHead)
    ref = build_retina(RetinaHead)
    ref.load_state_dict(ours.state_dict())
    feats, _, metas = retina_batch(4)
    with torch.no_grad():
        a = _predict(
            ours, feats, metas,
            _test_cfg(
                dict(
                    type='mmdet_lossplus.diou_nms',
                    iou_threshold=0.5,
                    use_distance=False)))
        b = _predict(ref, feats, metas,
                     _test_cfg(dict(type='nms', iou_threshold=0.5)))
    for x, y in zip(a, b):
        assert torch.equal(x.bboxes, y.bboxes)
        assert torch.equal(x.labels, y.labels)


def test_head_with_our_ciou_equals_mmdet_head_with_mmdet_ciou():
    extra = dict(reg_decoded_bbox=True)
    ref = build_retina(RetinaHead, loss_bbox=dict(type='CIoULoss'), **extra)
    ours = build_retina(
        AllLevelRetinaHead,
        loss_bbox=dict(type='mmdet_lossplus.CIoULoss', alpha='gated'),
        **extra)
    ours.load_state_dict(ref.state_dict(), strict=True)
    feats, gts, metas = retina_batch(5)
    lr = summed_losses(ref, feats, gts, metas)
    lo = summed_losses(ours, feats, gts, metas)
    assert lr['loss_bbox'] > 0
    assert torch.allclose(lo['loss_bbox'], lr['loss_bbox'], rtol=1e-5)
