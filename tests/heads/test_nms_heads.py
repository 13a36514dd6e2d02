"""ATSS and FCOS heads with a configurable NMS: mmdet's heads in every
respect, plus DIoU-NMS from test_cfg (scores times centerness first)."""
import pytest
import torch
from head_helpers import HEAD_GN, HEAD_SIZE
from iou_reference import reference_diou_nms
from mmdet.models.dense_heads import ATSSHead, FCOSHead
from mmengine.config import ConfigDict

from mmdet_lossplus.heads import (ConfigurableNMSATSSHead,
                                  ConfigurableNMSFCOSHead)

STRIDES = (8, 16, 32, 64, 128)
# small heads (head_helpers.HEAD_SIZE) with group norm
COMMON = dict(HEAD_SIZE, norm_cfg=HEAD_GN)
ATSS_ARGS = dict(
    COMMON,
    anchor_generator=dict(
        type='AnchorGenerator',
        ratios=[1.0],
        octave_base_scale=8,
        scales_per_octave=1,
        strides=list(STRIDES)),
    bbox_coder=dict(
        type='DeltaXYWHBBoxCoder',
        target_means=[.0, .0, .0, .0],
        target_stds=[0.1, 0.1, 0.2, 0.2]))
FCOS_ARGS = dict(
    COMMON,
    strides=list(STRIDES),
    # distances times the stride: boxes of neighbouring points overlap
    norm_on_bbox=True)
PAIRS = [(ConfigurableNMSATSSHead, ATSSHead, ATSS_ARGS),
         (ConfigurableNMSFCOSHead, FCOSHead, FCOS_ARGS)]


def _cfg(nms):
    return ConfigDict(
        nms_pre=300, min_bbox_size=0, score_thr=0.0, nms=nms, max_per_img=1000)


def _feats(seed, size=256):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(1, 8, size // s, size // s, generator=g) for s in STRIDES
    ]


def _predict(head, feats, cfg, with_nms=True):
    meta = dict(img_shape=(256, 256), scale_factor=(1.0, 1.0))
    with torch.no_grad():
        outs = head(feats)
        return head.predict_by_feat(
            *outs, batch_img_metas=[meta], cfg=cfg, with_nms=with_nms)[0]


def _pair(ours_cls, ref_cls, args):
    torch.manual_seed(0)
    ref = ref_cls(**args)
    ours = ours_cls(**args)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ours.eval(), ref.eval()


@pytest.mark.parametrize('ours_cls,ref_cls,args', PAIRS)
def test_mmcv_nms_and_distance_free_diou_nms_equal_mmdet(
        ours_cls, ref_cls, args):
    ours, ref = _pair(ours_cls, ref_cls, args)
    feats = _feats(1)
    expected = _predict(ref, feats, _cfg(dict(type='nms', iou_threshold=0.5)))
    assert 0 < len(expected.scores)
    for nms in (dict(type='nms', iou_threshold=0.5),
                dict(
                    type='mmdet_lossplus.diou_nms',
                    iou_threshold=0.5,
                    use_distance=False)):
        got = _predict(ours, feats, _cfg(nms))
        assert torch.equal(got.bboxes, expected.bboxes)
        assert torch.equal(got.labels, expected.labels)
        assert torch.allclose(got.scores, expected.scores)


@pytest.mark.parametrize('ours_cls,ref_cls,args', PAIRS)
def test_diou_nms_is_applied_class_by_class_after_centerness(
        ours_cls, ref_cls, args):
    ours, _ = _pair(ours_cls, ref_cls, args)
    feats = _feats(2)
    raw = _predict(ours, feats, _cfg(None), with_nms=False)
    got = _predict(
        ours, feats,
        _cfg(
            dict(type='mmdet_lossplus.diou_nms', iou_threshold=0.3, beta=1.0)))
    keep = reference_diou_nms(raw.bboxes, raw.scores, 0.3, 1.0, raw.labels)
    assert 0 < len(keep) < len(raw.scores)
    assert torch.equal(got.bboxes, raw.bboxes[keep])
    assert torch.equal(got.labels, raw.labels[keep])
    assert torch.allclose(got.scores, raw.scores[keep])
