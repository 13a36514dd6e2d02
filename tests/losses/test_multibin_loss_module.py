import math

import pytest
import torch

from mmdet_lossplus.functional.multibin import make_spec, multibin_encode
from mmdet_lossplus.losses import MultiBinLoss
from mmdet_lossplus.registry import MODELS


def _inputs(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = (torch.rand(n, generator=g) * 2 - 1) * math.pi
    enc = multibin_encode(t, make_spec(4, overlap=0.4))
    return torch.randn(n, 12, generator=g), enc


def test_mean_is_cls_over_rows_plus_reg_over_covering_pairs_by_hand():
    # one row, target 1.0 (bin 2 only), zero logits, residual angle 0
    loss = MultiBinLoss(num_bins=4, reg_weight=0.5, loss_weight=2.0)
    pred = torch.zeros(1, 12)
    pred[0, 4:] = torch.tensor([0., 1.] * 4)
    enc = multibin_encode(torch.tensor([1.0]), loss.spec)
    d = 1.0 - math.pi / 4
    reg = 1 - math.cos(d)
    assert loss(pred, enc).item() == pytest.approx(
        2.0 * (math.log(2) + 0.5 * reg), rel=1e-6)


def test_reductions_and_avg_factor():
    pred, enc = _inputs()
    loss = MultiBinLoss(num_bins=4, overlap=0.4)
    none = loss(pred, enc, reduction_override='none')
    assert none.shape == (10, )
    from mmdet_lossplus.functional.multibin import multibin_loss
    terms = multibin_loss(pred, enc, loss.spec)
    mean = terms.cls.sum() / 10 + terms.reg.sum() / terms.covered.sum()
    assert torch.allclose(loss(pred, enc), mean)
    # with avg_factor both parts are per averaged row (exact with a global
    # count across GPUs)
    with_avg = (terms.cls.sum() + terms.reg.sum()) / 4
    assert torch.allclose(loss(pred, enc, avg_factor=4), with_avg)
    assert torch.allclose(
        loss(pred, enc, reduction_override='sum'),
        terms.cls.sum() + terms.reg.sum())
    assert torch.allclose(
        none, terms.cls + terms.reg / terms.covered, rtol=1e-6)


def test_zero_weights_and_empty_input_are_finite_and_connected():
    pred, enc = _inputs(4)
    pred.requires_grad_(True)
    loss = MultiBinLoss(num_bins=4, overlap=0.4)
    out = loss(pred, enc, torch.zeros(4))
    assert out.item() == 0.0
    out.backward()
    empty = torch.zeros(0, 12, requires_grad=True)
    out = loss(empty, torch.zeros(0, 12))
    assert out.item() == 0.0
    out.backward()


def test_weight_equals_dropping_rows():
    pred, enc = _inputs(6)
    loss = MultiBinLoss(num_bins=4, overlap=0.4)
    w = torch.tensor([1., 0., 1., 1., 0., 1.])
    keep = w > 0
    assert torch.allclose(loss(pred, enc, w), loss(pred[keep], enc[keep]))


def test_build_and_errors():
    loss = MODELS.build(
        dict(type='mmdet_lossplus.MultiBinLoss', num_bins=6, overlap=0.3))
    assert loss.spec.num_bins == 6
    with pytest.raises(ValueError, match='num_bins'):
        MultiBinLoss(num_bins=1)
    with pytest.raises(ValueError, match='overlap'):
        MultiBinLoss(overlap=1.5)
    with pytest.raises(ValueError, match='reg_weight'):
        MultiBinLoss(reg_weight=-1)
    with pytest.raises(ValueError, match=r'must both be \[N, 12\]'):
        MultiBinLoss()(torch.zeros(3, 12), torch.zeros(3, 10))
    with pytest.raises(ValueError, match='weight must have shape'):
        MultiBinLoss()(torch.zeros(3, 12), torch.zeros(3, 12), torch.ones(2))


def test_bad_inputs_are_refused():
    loss = MultiBinLoss(num_bins=4, overlap=0.4)
    pred, target = _inputs()
    with pytest.raises(TypeError, match='pred'):
        loss(pred.long(), target)  # was a truncated int64 loss
    with pytest.raises(TypeError, match='target'):
        loss(pred, target.long())
    with pytest.raises(ValueError, match=r'\[N, 12\]'):
        loss(pred[:, :8], target[:, :8])
    with pytest.raises(ValueError, match='weight'):
        loss(pred, target, torch.ones(10, 3))
    with pytest.raises(ValueError, match='weight'):
        loss(pred, target, torch.ones(9))
    # the accepted weight shapes agree
    w = torch.rand(10)
    a = loss(pred, target, w)
    assert torch.allclose(a, loss(pred, target, w[:, None]))
    assert torch.allclose(a, loss(pred, target, w[:, None].expand(10, 12)))
