"""AllLevelRetinaHead: same losses as mmdet's for per-level-summable losses,
one loss call per iteration, strict state-dict compatibility."""
import pytest
import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

from mmdet_lossplus.heads import AllLevelRetinaHead

register_all_modules()

HEAD = dict(
    num_classes=4,
    in_channels=8,
    feat_channels=8,
    stacked_convs=1,
    anchor_generator=dict(
        type='AnchorGenerator',
        octave_base_scale=2,
        scales_per_octave=3,
        ratios=[0.5, 1.0, 2.0],
        strides=[8, 16, 32]),
    bbox_coder=dict(
        type='DeltaXYWHBBoxCoder',
        target_means=[.0, .0, .0, .0],
        target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=dict(
        type='FocalLoss',
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),
        allowed_border=-1,
        pos_weight=-1,
        debug=False))


def _batch(seed, with_empty=True):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(2, 8, s, s, generator=g) for s in (8, 4, 2)]
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2
    gts = []
    for i in range(2):
        k = 0 if (with_empty and i == 1) else 3
        xy = torch.rand(k, 2, generator=g) * 40
        wh = torch.rand(k, 2, generator=g) * 20 + 8
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, 4, (k, ), generator=g)))
    return feats, gts, metas


def _loss(head, feats, gts, metas):
    cls_scores, bbox_preds = head(feats)
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    return {k: sum(v) if isinstance(v, list) else v for k, v in losses.items()}


def _build(cls, **overrides):
    cfg = dict(HEAD, **overrides)
    torch.manual_seed(0)
    return cls(**cfg)


@pytest.mark.parametrize('reg_decoded', [False, True])
def test_equals_mmdet_per_level_sum(reg_decoded):
    extra = {}
    if reg_decoded:
        extra = dict(reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss'))
    ref = _build(RetinaHead, **extra)
    ours = _build(AllLevelRetinaHead, **extra)
    ours.load_state_dict(ref.state_dict(), strict=True)
    feats, gts, metas = _batch(0)
    lr = _loss(ref, feats, gts, metas)
    lo = _loss(ours, feats, gts, metas)
    for k in ('loss_cls', 'loss_bbox'):
        assert torch.allclose(lo[k], lr[k], rtol=1e-5), k
    # Gradients too.
    gr = torch.autograd.grad(lr['loss_cls'] + lr['loss_bbox'],
                             list(ref.parameters()))
    go = torch.autograd.grad(lo['loss_cls'] + lo['loss_bbox'],
                             list(ours.parameters()))
    for a, b in zip(gr, go):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_state_dict_is_mmdet_retinahead_both_ways():
    ref = _build(RetinaHead)
    ours = _build(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=30,
            momentum=0.75))
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(
        {
            k: v
            for k, v in ours.state_dict().items() if not k.startswith('loss_')
        },
        strict=True)


def test_ghm_sees_one_histogram_per_iteration():
    head = _build(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=30,
            momentum=0.75),
        loss_bbox=dict(
            type='mmdet_lossplus.GHMR', mu=0.02, bins=10, momentum=0.7))
    feats, gts, metas = _batch(1)
    losses = _loss(head, feats, gts, metas)
    assert losses['loss_cls'].dim() == 0 and losses['loss_bbox'].dim() == 0
    # Each non-empty bin was updated exactly once, not once per level.
    assert head.loss_cls.ema_steps.max().item() == 1
    assert head.loss_bbox.ema_steps.max().item() == 1
    # The counts are those of all levels and images together: every
    # (anchor, class) logit of a non-ignored anchor, once.
    cls_scores, _ = head(feats)
    anchors, valid = head.get_anchors([c.shape[-2:] for c in cls_scores],
                                      metas,
                                      device='cpu')
    label_weights = head.get_targets(anchors, valid, gts, metas)[1]
    n_valid = sum((w > 0).sum().item() for w in label_weights)
    assert 0 < n_valid < 1512
    assert head.loss_cls.acc_sum.sum().item() == pytest.approx(
        0.25 * n_valid * 4, rel=1e-6)


@pytest.mark.parametrize('momentum', [0.0, 0.75])
def test_our_ghm_in_the_head_equals_mmdet_ghm_called_once(momentum):
    """Inside the head, ours == mmdet's GHMC/GHMR fed the same all-level
    tensors (values and parameter gradients, over two iterations)."""
    ours = _build(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=30,
            momentum=momentum,
            bias_correction=False),
        loss_bbox=dict(
            type='mmdet_lossplus.GHMR',
            mu=0.02,
            bins=10,
            momentum=momentum,
            bias_correction=False,
            loss_weight=10.0))
    ref = _build(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='GHMC', use_sigmoid=True, bins=30, momentum=momentum),
        loss_bbox=dict(
            type='GHMR', mu=0.02, bins=10, momentum=momentum,
            loss_weight=10.0))
    ref.load_state_dict(ours.state_dict(), strict=False)
    for it in range(2):
        feats, gts, metas = _batch(10 + it)
        lo = _loss(ours, feats, gts, metas)
        lr = _loss(ref, feats, gts, metas)
        for k in ('loss_cls', 'loss_bbox'):
            assert torch.allclose(lo[k], lr[k], rtol=1e-5), (it, k)
        go = torch.autograd.grad(lo['loss_cls'] + lo['loss_bbox'],
                                 list(ours.parameters()))
        gr = torch.autograd.grad(lr['loss_cls'] + lr['loss_bbox'],
                                 list(ref.parameters()))
        for a, b in zip(go, gr):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-7), it
