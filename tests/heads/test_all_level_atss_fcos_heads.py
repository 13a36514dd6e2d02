"""AllLevelATSSHead and AllLevelFCOSHead: with focal and mmdet's default
box loss, one process computes what mmdet's heads compute (values and
parameter gradients); checkpoints load strictly both ways; each loss is
called once per iteration; no host sync beyond selecting the positives."""
import pytest
import torch
from head_helpers import (ATSS_HEAD, FOCAL_LOSS, HEAD_GN, HEAD_SIZE,
                          assert_state_dicts_interchangeable, build_head,
                          random_batch, summed_losses)
from mmdet.models.dense_heads import ATSSHead, FCOSHead
from mmdet.utils import register_all_modules

from mmdet_lossplus.heads import (AllLevelATSSHead, AllLevelFCOSHead,
                                  atss_centerness_target)

register_all_modules()

ATSS = ATSS_HEAD

FCOS = dict(
    HEAD_SIZE,
    norm_cfg=HEAD_GN,
    strides=[8, 16, 32],
    regress_ranges=((-1, 16), (16, 32), (32, 1e8)),
    loss_cls=FOCAL_LOSS,
    loss_bbox=dict(type='IoULoss', loss_weight=1.0),
    loss_centerness=dict(
        type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))

# mmdet's FCOS variants: centre sampling, norm_on_bbox, GIoU
FCOS_PLUS = dict(
    FCOS,
    center_sampling=True,
    center_sample_radius=1.5,
    norm_on_bbox=True,
    centerness_on_reg=True,
    loss_bbox=dict(type='GIoULoss', loss_weight=1.0))

CASES = {
    'atss': (ATSSHead, AllLevelATSSHead, ATSS),
    'fcos': (FCOSHead, AllLevelFCOSHead, FCOS),
    'fcos_plus': (FCOSHead, AllLevelFCOSHead, FCOS_PLUS),
}


@pytest.mark.parametrize('name', list(CASES))
@pytest.mark.parametrize('empty', [(1, ), ()])
def test_equals_mmdet_values_and_gradients(name, empty):
    ref_cls, our_cls, cfg = CASES[name]
    ref, ours = build_head(ref_cls, cfg), build_head(our_cls, cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    feats, gts, metas = random_batch(0, empty)
    lr, lo = summed_losses(ref, feats, gts,
                           metas), summed_losses(ours, feats, gts, metas)
    assert set(lr) == set(lo) == {'loss_cls', 'loss_bbox', 'loss_centerness'}
    for k in lr:
        assert lo[k].item() == pytest.approx(lr[k].item(), rel=1e-5), k
    gr = torch.autograd.grad(sum(lr.values()), list(ref.parameters()))
    go = torch.autograd.grad(sum(lo.values()), list(ours.parameters()))
    for (n, _), a, b in zip(ref.named_parameters(), gr, go):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7), n


@pytest.mark.parametrize('name', list(CASES))
def test_no_positive_anywhere_gives_zero_box_losses_with_gradient(name):
    _, our_cls, cfg = CASES[name]
    head = build_head(our_cls, cfg)
    feats, gts, metas = random_batch(1, empty=(0, 1, 2))
    losses = summed_losses(head, feats, gts, metas)
    assert losses['loss_bbox'].item() == 0.0
    assert losses['loss_centerness'].item() == 0.0
    assert losses['loss_cls'].item() > 0
    sum(losses.values()).backward()  # the graph stays connected


@pytest.mark.parametrize('name', list(CASES))
def test_state_dict_is_mmdet_head_both_ways(name):
    ref_cls, our_cls, cfg = CASES[name]
    ref = build_head(ref_cls, cfg)
    ours = build_head(
        our_cls,
        cfg,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=10,
            momentum=0.75))
    assert_state_dicts_interchangeable(ref, ours)


@pytest.mark.parametrize('name', list(CASES))
def test_each_loss_is_called_once_per_iteration(name):
    _, our_cls, cfg = CASES[name]
    head = build_head(
        our_cls,
        cfg,
        loss_cls=dict(
            type='mmdet_lossplus.GHMC',
            use_sigmoid=True,
            bins=10,
            momentum=0.75))
    calls = []
    for loss in (head.loss_cls, head.loss_bbox, head.loss_centerness):
        loss.register_forward_hook(
            lambda m, a, o, name=type(loss).__name__: calls.append(name))
    feats, gts, metas = random_batch(2)
    summed_losses(head, feats, gts, metas)
    assert sorted(calls) == sorted(
        ['GHMC', type(head.loss_bbox).__name__, 'CrossEntropyLoss'])
    # one EMA step: every non-empty bin was updated exactly once
    assert head.loss_cls.ema_steps.max().item() == 1


@pytest.mark.parametrize('loss_cls', [
    dict(type='mmdet_lossplus.GHMC', use_sigmoid=True, bins=10),
    dict(type='mmdet_lossplus.APLoss', use_sigmoid=True)
])
@pytest.mark.parametrize('name', ['atss', 'fcos'])
def test_global_losses_train(name, loss_cls):
    _, our_cls, cfg = CASES[name]
    head = build_head(our_cls, cfg, loss_cls=loss_cls)
    feats, gts, metas = random_batch(3)
    losses = summed_losses(head, feats, gts, metas)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert head.atss_cls.weight.grad.abs().sum() > 0 if name == 'atss' \
        else head.conv_cls.weight.grad.abs().sum() > 0


def test_atss_centerness_target_by_hand():
    # anchor centre (5, 5) in box (0, 0, 10, 20): l = r = 5, t = 5, b = 15
    anchors = torch.tensor([[4., 4., 6., 6.]])
    gts = torch.tensor([[0., 0., 10., 20.]])
    assert atss_centerness_target(anchors, gts).item() == pytest.approx(
        (1.0 * 5 / 15)**0.5)
    assert atss_centerness_target(torch.zeros(0, 4),
                                  torch.zeros(0, 4)).shape == (0, )
