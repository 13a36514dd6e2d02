"""AllLevelRetinaHead: same losses as mmdet's for per-level-summable losses,
one loss call per iteration, strict state-dict compatibility."""
import pytest
import torch
from head_helpers import (assert_state_dicts_interchangeable, build_retina,
                          retina_batch, summed_losses)
from mmdet.models.dense_heads import RetinaHead
from mmdet.utils import register_all_modules

from mmdet_lossplus.heads import AllLevelRetinaHead

register_all_modules()


@pytest.mark.parametrize('reg_decoded', [False, True])
def test_equals_mmdet_per_level_sum(reg_decoded):
    extra = {}
    if reg_decoded:
        extra = dict(reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss'))
    ref = build_retina(RetinaHead, **extra)
    ours = build_retina(AllLevelRetinaHead, **extra)
    ours.load_state_dict(ref.state_dict(), strict=True)
    feats, gts, metas = retina_batch(0)
    lr = summed_losses(ref, feats, gts, metas)
    lo = summed_losses(ours, feats, gts, metas)
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
    ref = build_retina(RetinaHead)
    ours = build_retina(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=30,
            momentum=0.75))
    assert_state_dicts_interchangeable(ref, ours)


def test_ghm_sees_one_histogram_per_iteration():
    head = build_retina(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=30,
            momentum=0.75),
        loss_bbox=dict(
            type='mmdet_lossplus.GHMR', mu=0.02, bins=10, momentum=0.7))
    feats, gts, metas = retina_batch(1)
    losses = summed_losses(head, feats, gts, metas)
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
    ours = build_retina(
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
    ref = build_retina(
        AllLevelRetinaHead,
        loss_cls=dict(
            type='GHMC', use_sigmoid=True, bins=30, momentum=momentum),
        loss_bbox=dict(
            type='GHMR', mu=0.02, bins=10, momentum=momentum,
            loss_weight=10.0))
    ref.load_state_dict(ours.state_dict(), strict=False)
    for it in range(2):
        feats, gts, metas = retina_batch(10 + it)
        lo = summed_losses(ours, feats, gts, metas)
        lr = summed_losses(ref, feats, gts, metas)
        for k in ('loss_cls', 'loss_bbox'):
            assert torch.allclose(lo[k], lr[k], rtol=1e-5), (it, k)
        go = torch.autograd.grad(lo['loss_cls'] + lo['loss_bbox'],
                                 list(ours.parameters()))
        gr = torch.autograd.grad(lr['loss_cls'] + lr['loss_bbox'],
                                 list(ref.parameters()))
        for a, b in zip(go, gr):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-7), it
