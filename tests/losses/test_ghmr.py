"""GHMR and ASL1Loss against mmdet and hand-computed values."""
import pytest
import torch
from loss_helpers import loss_and_grad
from mmdet.models.losses import GHMR as MMDetGHMR

from mmdet_lossplus.losses import GHMR, ASL1Loss


def _inputs(seed, n=300):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, 4, generator=g) * 0.2
    target = torch.randn(n, 4, generator=g) * 0.2
    weight = (torch.rand(n, 1, generator=g) > 0.5).float().expand(n, 4)
    return pred, target, weight.contiguous()


@pytest.mark.parametrize('momentum', [0.0, 0.7])
@pytest.mark.parametrize('reduction', ['mean', 'none'])
def test_matches_mmdet_over_successive_calls(momentum, reduction):
    ours = GHMR(
        bins=10, momentum=momentum, bias_correction=False, reduction=reduction)
    ref = MMDetGHMR(bins=10, momentum=momentum, reduction=reduction)
    for call in range(4):
        pred, target, weight = _inputs(call)
        l1, g1 = loss_and_grad(ours, pred, target, weight, avg_factor=7.0)
        l2, g2 = loss_and_grad(ref, pred, target, weight, avg_factor=7.0)
        assert torch.allclose(l1, l2, rtol=1e-6, atol=1e-12), call
        assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12), call


def test_sum_is_mean_times_weight_sum():
    # mmdet's GHMR raises for 'sum'; ours works.
    pred, target, weight = _inputs(2)
    mean = GHMR()(pred, target, weight)
    total = GHMR(reduction='sum')(pred, target, weight)
    assert total.item() == pytest.approx(
        mean.item() * weight.sum().item(), rel=1e-6)


def test_one_bin_is_mean_asl1_over_weight_sum():
    pred, target, weight = _inputs(0)
    loss = GHMR(bins=1, mu=0.05)(pred, target, weight)
    d = pred - target
    asl1 = torch.sqrt(d * d + 0.05**2) - 0.05
    expected = (asl1 * (weight > 0)).sum() / weight.sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_asl1_loss_follows_mmdet_weighting():
    pred, target, weight = _inputs(1)
    loss = ASL1Loss(
        mu=0.02, loss_weight=3.0)(
            pred, target, weight, avg_factor=11.0)
    d = pred - target
    expected = 3.0 * ((torch.sqrt(d * d + 4e-4) - 0.02) * weight).sum() / 11
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize('cls,kwargs,match', [
    (GHMR, dict(mu=0.0), 'mu'),
    (GHMR, dict(mu=-1.0), 'mu'),
    (GHMR, dict(bins=0), 'bins'),
    (GHMR, dict(momentum=1.5), 'momentum'),
    (ASL1Loss, dict(mu=0.0), 'mu'),
    (ASL1Loss, dict(reduction='x'), 'reduction'),
])
def test_bad_configuration(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls(**kwargs)


@pytest.mark.parametrize('cls', [GHMR, ASL1Loss])
def test_shape_mismatch(cls):
    with pytest.raises(ValueError, match='shape'):
        cls()(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match='weight'):
        cls()(torch.zeros(3, 4), torch.zeros(3, 4), torch.ones(2, 4))


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
@pytest.mark.parametrize('where', ['valid', 'ignored'])
@pytest.mark.parametrize('tensor', ['pred', 'target'])
def test_non_finite_entry_anywhere_keeps_state(value, where, tensor):
    loss = GHMR(momentum=0.5)
    pred, target, weight = _inputs(0)
    loss(pred, target, weight)
    acc, steps = loss.acc_sum.clone(), loss.ema_steps.clone()
    mask = weight[:, 0] > 0 if where == 'valid' else weight[:, 0] == 0
    row = torch.nonzero(mask)[0, 0]
    (pred if tensor == 'pred' else target)[row, 0] = value
    x = pred.requires_grad_()
    out = loss(x, target, weight)
    assert not torch.isfinite(out)
    out.backward()
    assert not torch.isfinite(x.grad).all()
    assert torch.equal(acc, loss.acc_sum)
    assert torch.equal(steps, loss.ema_steps)


@pytest.mark.parametrize('dtype', [torch.bool, torch.int64, torch.uint8])
def test_bool_and_int_weights_equal_float_weights(dtype):
    # mmdet accepts them; they used to fail with a dtype error
    pred, target, weight = _inputs(3)
    want_l, want_g = loss_and_grad(GHMR(), pred, target, weight)
    got_l, got_g = loss_and_grad(GHMR(), pred, target, weight.to(dtype))
    assert got_l.item() == pytest.approx(want_l.item(), rel=1e-6)
    assert torch.allclose(got_g, want_g, rtol=1e-6, atol=1e-12)


def test_ignored_entries_contribute_nothing_unless_non_finite():
    pred, target, weight = _inputs(5)
    ignored = weight == 0
    moved = pred.clone()
    moved[ignored] += 7.0  # any finite change of ignored entries
    loss = GHMR(momentum=0.7)
    l1, g1 = loss_and_grad(GHMR(momentum=0.7), pred, target, weight)
    l2, g2 = loss_and_grad(loss, moved, target, weight)
    assert l1.item() == pytest.approx(l2.item(), rel=1e-6)
    assert torch.equal(g2[ignored], torch.zeros_like(g2[ignored]))
    assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12)
    # A non-finite ignored entry: as in mmdet (0 * inf), the loss is not
    # finite, and the EMA is left as it was.
    acc = loss.acc_sum.clone()
    bad = pred.clone()
    bad[torch.nonzero(ignored)[0, 0], 0] = float('inf')
    assert not torch.isfinite(loss(bad, target, weight))
    assert torch.equal(loss.acc_sum, acc)


@pytest.mark.parametrize('n', [1, 5, 333])
def test_matches_mmdet_for_sizes_off_the_counting_lanes(n):
    ours = GHMR(bins=10, momentum=0.7, bias_correction=False)
    ref = MMDetGHMR(bins=10, momentum=0.7)
    for call in range(2):
        pred, target, weight = _inputs(call + n, n=n)
        weight[0] = 1.0  # at least one valid row
        l1, g1 = loss_and_grad(ours, pred, target, weight)
        l2, g2 = loss_and_grad(ref, pred, target, weight)
        assert torch.allclose(l1, l2, rtol=1e-6, atol=1e-12)
        assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12)


def test_expanded_weights_and_strided_predictions():
    pred, target, weight = _inputs(6)
    expanded = weight[:, :1].expand(-1, 4)  # a view, as heads often pass
    strided = pred.t().contiguous().t()
    l1, g1 = loss_and_grad(GHMR(momentum=0.7), pred, target, weight)
    l2, g2 = loss_and_grad(GHMR(momentum=0.7), strided, target, expanded)
    assert torch.equal(l1, l2) and torch.equal(g1, g2)
