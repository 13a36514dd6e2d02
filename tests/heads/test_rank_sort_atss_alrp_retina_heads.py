"""RankSortATSSHead and aLRPRetinaHead: their losses equal the O(P*N)
transcriptions applied to mmdet's own targets; checkpoints load into
mmdet's ATSSHead / RetinaHead where the layers are the same; a batch
without positives trains; wrong configurations are refused."""
import pytest
import torch
from head_helpers import ATSS_HEAD, RETINA_HEAD, build_head, random_batch
from loss_helpers import entry_labels
from mmdet.models.dense_heads import ATSSHead, RetinaHead
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import register_all_modules
from rank_sort_alrp_reference import alrp_reference, rank_sort_reference

from mmdet_lossplus.heads import RankSortATSSHead, aLRPRetinaHead
from mmdet_lossplus.heads.global_batch import flatten_levels, join_levels

register_all_modules()

# the test heads of head_helpers with the losses (and for aLRP the coder
# and anchors) of the papers' configs
RS = dict({
    k: v
    for k, v in ATSS_HEAD.items() if k != 'loss_centerness'
},
          loss_cls=dict(
              type='mmdet_lossplus.RankSortLoss', delta=0.5, use_sigmoid=True),
          loss_bbox=dict(type='GIoULoss', reduction='none'))
ALRP = dict(
    RETINA_HEAD,
    bbox_coder=ATSS_HEAD['bbox_coder'],
    anchor_generator=dict(
        type='AnchorGenerator',
        octave_base_scale=4,
        scales_per_octave=2,
        ratios=[0.5, 1.0, 2.0],
        strides=[8, 16, 32]),
    loss_cls=dict(
        type='mmdet_lossplus.aLRPLoss', use_sigmoid=True, sb_interval=100),
    loss_bbox=dict(type='GIoULoss', reduction='none'))


def test_rank_sort_head_losses_equal_the_transcription():
    head = build_head(RankSortATSSHead, RS)
    feats, gts, metas = random_batch(0)
    cls_scores, bbox_preds = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    assert set(losses) == {'loss_rank', 'loss_sort', 'loss_bbox'}
    # the reference: mmdet's ATSS targets, IoUs of the decoded boxes,
    # the transcription of Rank & Sort, the authors' box weighting
    with torch.no_grad():
        anchors, valid = head.get_anchors([f.shape[-2:] for f in feats],
                                          metas,
                                          device='cpu')
        (anchor_list, labels, weights, boxes, _,
         _) = ATSSHead.get_targets(head, anchors, valid, gts, metas)
        labels, weights = join_levels(labels), join_levels(weights)
        anchors, boxes = join_levels(anchor_list), join_levels(boxes)
        scores = flatten_levels(cls_scores, 4).double()
        deltas = flatten_levels(bbox_preds, 4)
        pos = (labels < 4).nonzero()[:, 0]
        decoded = head.bbox_coder.decode(anchors[pos], deltas[pos])
        iou = bbox_overlaps(decoded, boxes[pos], is_aligned=True)
        targets = torch.zeros(labels.numel(), dtype=torch.float64)
        targets[pos] = iou.double()
        entry = entry_labels(labels, weights, 4)
        entry[(entry == 1)
              & (targets[:, None].expand(-1, 4).reshape(-1) <= 0)] = 0
        r, s, _, _ = rank_sort_reference(
            scores, entry, targets[:, None].expand(-1, 4).reshape(-1), 0.5)
    assert losses['loss_rank'].item() == pytest.approx(r, abs=1e-6)
    assert losses['loss_sort'].item() == pytest.approx(s, abs=1e-6)
    # value-based self-balance: the box loss shows the classification value
    assert losses['loss_bbox'].item() == pytest.approx(r + s, rel=1e-5)
    sum(losses.values()).backward()
    assert head.atss_reg.weight.grad.abs().sum() > 0


def test_alrp_head_losses_equal_the_transcription():
    head = build_head(aLRPRetinaHead, ALRP)
    feats, gts, metas = random_batch(1)
    cls_scores, bbox_preds = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    with torch.no_grad():
        (anchors, labels, weights, boxes, _, _,
         _) = head.flat_targets(cls_scores, gts, metas)
        scores = flatten_levels(cls_scores, 4).double()
        deltas = flatten_levels(bbox_preds, 4)
        pos = ((labels < 4) & (weights > 0)).nonzero()[:, 0]
        decoded = head.bbox_coder.decode(anchors[pos], deltas[pos])
        target_boxes = head.bbox_coder.decode(anchors[pos], boxes[pos])
        giou = bbox_overlaps(
            decoded, target_boxes, mode='giou', is_aligned=True)
        c, loc, _, _ = alrp_reference(scores, entry_labels(labels, weights, 4),
                                      (1 - giou).double())
    assert losses['loss_cls'].item() == pytest.approx(c, abs=1e-6)
    assert losses['loss_bbox'].item() == pytest.approx(50 * loc, rel=1e-5)
    sum(losses.values()).backward()
    assert head.retina_reg.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('cls,cfg', [(RankSortATSSHead, RS),
                                     (aLRPRetinaHead, ALRP)])
def test_no_positive_anywhere_trains(cls, cfg):
    head = build_head(cls, cfg)
    feats, gts, metas = random_batch(2, empty=(0, 1, 2))
    losses = head.loss_by_feat(*head(feats), gts, metas)
    assert all(v.item() == 0 for v in losses.values())
    sum(losses.values()).backward()
    # every parameter is in the graph (DDP needs it on every rank)
    assert all(p.grad is not None for p in head.parameters())


def test_alrp_checkpoints_are_retinanet_both_ways():
    ref = build_head(
        RetinaHead,
        dict(
            ALRP,
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),
            loss_bbox=dict(type='L1Loss')))
    ours = build_head(aLRPRetinaHead, ALRP)
    ours.load_state_dict(ref.state_dict(), strict=True)
    state = {
        k: v
        for k, v in ours.state_dict().items() if not k.startswith('loss_')
    }
    ref.load_state_dict(state, strict=True)


def test_rank_sort_checkpoints_are_atss_without_centerness():
    ref = build_head(
        ATSSHead,
        dict(
            RS,
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),
            loss_bbox=dict(type='GIoULoss')))
    ours = build_head(RankSortATSSHead, RS)
    result = ours.load_state_dict(ref.state_dict(), strict=False)
    assert sorted(result.unexpected_keys) == [
        'atss_centerness.bias', 'atss_centerness.weight'
    ] and not result.missing_keys
    result = ref.load_state_dict(ours.state_dict(), strict=False)
    assert sorted(result.missing_keys) == [
        'atss_centerness.bias', 'atss_centerness.weight'
    ] and not result.unexpected_keys


def test_rank_sort_head_predicts_from_class_scores():
    head = build_head(
        RankSortATSSHead,
        RS,
        test_cfg=dict(
            nms_pre=100,
            score_thr=0.0,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=10))
    feats, _, metas = random_batch(3)
    metas = [dict(m, scale_factor=(1.0, 1.0)) for m in metas]
    with torch.no_grad():
        results = head.predict_by_feat(*head(feats), batch_img_metas=metas)
    assert len(results) == 3 and results[0].bboxes.shape[1] == 4
    assert len(results[0]) == 10


@pytest.mark.parametrize('cls,cfg,loss_cls,match', [
    (RankSortATSSHead, RS, dict(type='FocalLoss',
                                use_sigmoid=True), 'RankSortLoss'),
    (RankSortATSSHead, RS, dict(type='mmdet_lossplus.RankSortLoss'),
     'use_sigmoid'),
    (aLRPRetinaHead, ALRP, dict(type='FocalLoss',
                                use_sigmoid=True), 'aLRPLoss'),
    (aLRPRetinaHead, ALRP, dict(type='mmdet_lossplus.aLRPLoss'),
     'use_sigmoid'),
])
def test_wrong_loss_configuration_is_refused(cls, cfg, loss_cls, match):
    with pytest.raises((TypeError, ValueError), match=match):
        cls(**dict(cfg, loss_cls=loss_cls))


def test_rank_sort_iou_targets_stay_float32_under_fp16_scores():
    # autocast hands the loss fp16 scores: the IoU targets must not be
    # built in fp16 (3 significant digits) from them
    head = build_head(RankSortATSSHead, RS)
    feats, gts, metas = random_batch(0)
    cls_scores, bbox_preds = head(feats)
    seen = {}
    forward = head.loss_cls.forward

    def spy(pred, target, *args, **kwargs):
        seen['ious'] = target[1]
        return forward(pred.float(), target, *args, **kwargs)

    head.loss_cls.forward = spy
    head.loss_by_feat([s.half() for s in cls_scores], bbox_preds, gts, metas)
    half = seen['ious']
    head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    assert half.dtype == torch.float32
    assert torch.equal(half, seen['ious'])  # the same targets as in fp32
