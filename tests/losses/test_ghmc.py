"""GHMC against mmdet's GHMC, hand cases, state and errors."""
import pytest
import torch
from loss_helpers import loss_and_grad
from mmdet.models.losses import GHMC as MMDetGHMC

from mmdet_lossplus.losses import GHMC, ghm_state


def _inputs(seed, n=400, c=5, ignore=0.2):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g) * 3
    labels = torch.randint(0, c + 1, (n, ), generator=g)  # c = background
    label_weights = (torch.rand(n, generator=g) > ignore).float()
    return pred, labels, label_weights


@pytest.mark.parametrize('momentum', [0.0, 0.75])
@pytest.mark.parametrize('bins', [1, 10, 30, 300])
def test_matches_mmdet_over_successive_calls(momentum, bins):
    ours = GHMC(bins=bins, momentum=momentum, bias_correction=False)
    ref = MMDetGHMC(bins=bins, momentum=momentum)
    for call in range(4):
        pred, labels, lw = _inputs(call)
        l1, g1 = loss_and_grad(ours, pred, labels, lw)
        l2, g2 = loss_and_grad(ref, pred, labels, lw)
        assert torch.allclose(l1, l2, rtol=1e-6, atol=0), (call, l1, l2)
        assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12), call
        if momentum > 0:
            assert torch.allclose(ours.acc_sum, ref.acc_sum, rtol=1e-6)


def test_sum_is_mean_times_tot():
    # mmdet's GHMC raises for 'sum' (it passes avg_factor); ours works.
    pred, labels, lw = _inputs(5)
    mean = GHMC(bins=10)(pred, labels, lw)
    total = GHMC(bins=10, reduction='sum')(pred, labels, lw)
    tot = (lw > 0).sum() * pred.shape[1]
    assert total.item() == pytest.approx(mean.item() * tot.item(), rel=1e-6)


@pytest.mark.parametrize('reduction', ['none', 'mean'])
def test_matches_mmdet_for_one_hot_targets_and_reductions(reduction):
    pred, labels, _ = _inputs(7, n=100, c=3)
    onehot = torch.zeros(100, 3)
    fg = labels < 3
    onehot[fg, labels[fg]] = 1
    lw = (torch.rand(100, 3) > 0.1).float()
    ours = GHMC(bins=8, reduction=reduction)
    ref = MMDetGHMC(bins=8, reduction=reduction)
    l1, g1 = loss_and_grad(ours, pred, onehot, lw)
    l2, g2 = loss_and_grad(ref, pred, onehot, lw)
    assert torch.allclose(l1, l2, rtol=1e-6)
    assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12)


def test_hand_computed_two_bins():
    # Logit 0 -> g = 0.5 (bin 1 of 2); logit -10 with target 0 -> g ~ 0
    # (bin 0). Three samples in bin 0, one in bin 1, tot = 4, n = 2:
    # w = 4/(3*2) for bin 0, 4/(1*2) for bin 1; loss = sum(w * bce) / 4.
    pred = torch.tensor([[-10.0], [-10.0], [-10.0], [0.0]])
    target = torch.zeros(4, 1)
    loss = GHMC(bins=2)(pred, target)
    bce_small = torch.nn.functional.softplus(torch.tensor(-10.0)).item()
    bce_half = torch.log(torch.tensor(2.0)).item()
    expected = (3 * (4 / 6) * bce_small + 1 * (4 / 2) * bce_half) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_loss_weight_and_half_precision():
    pred, labels, lw = _inputs(3)
    full = GHMC(bins=10, loss_weight=2.0)(pred, labels, lw)
    half = GHMC(bins=10, loss_weight=2.0)(pred.half(), labels, lw)
    plain = GHMC(bins=10)(pred, labels, lw)
    assert full.item() == pytest.approx(2 * plain.item(), rel=1e-6)
    assert half.dtype == torch.float32 and torch.isfinite(half)
    assert half.item() == pytest.approx(
        GHMC(bins=10, loss_weight=2.0)(pred.half().float(), labels, lw).item(),
        rel=1e-6)


def test_bias_correction_changes_only_the_warm_up():
    corrected = GHMC(bins=10, momentum=0.75)
    raw = GHMC(bins=10, momentum=0.75, bias_correction=False)
    pred, labels, lw = _inputs(0)
    plain = GHMC(bins=10)(pred, labels, lw)
    # First call: the corrected EMA equals this batch's counts.
    assert corrected(pred, labels, lw).item() == pytest.approx(
        plain.item(), rel=1e-6)
    # The raw EMA starts at (1 - m) * counts: weights 4x too large.
    assert raw(pred, labels, lw).item() == pytest.approx(
        4 * plain.item(), rel=1e-5)
    for _ in range(60):
        a, b = corrected(pred, labels, lw), raw(pred, labels, lw)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
@pytest.mark.parametrize('where', ['valid', 'ignored', 'positive'])
@pytest.mark.parametrize('weights', ['anchor', 'logit', 'onehot'])
def test_non_finite_logit_anywhere_gives_a_non_finite_loss(
        value, where, weights):
    # valid and ignored entries alike: the loss (and gradient) is not
    # finite and the EMA does not move
    loss = GHMC(bins=10, momentum=0.75)
    pred, labels, lw = _inputs(0)
    c = pred.shape[1]
    loss(pred, labels, lw)
    acc, steps = loss.acc_sum.clone(), loss.ema_steps.clone()
    rows = {
        'valid': torch.nonzero((lw > 0) & (labels == c))[0, 0],
        'ignored': torch.nonzero(lw == 0)[0, 0],
        'positive': torch.nonzero((lw > 0) & (labels < c))[0, 0]
    }
    row = rows[where]
    col = labels[row] if where == 'positive' else 0
    bad = pred.clone()
    bad[row, col] = value
    if weights == 'anchor':
        args = (labels, lw)
    elif weights == 'logit':
        args = (labels, lw[:, None].expand(-1, c).contiguous())
    else:
        onehot = torch.zeros_like(pred)
        keep = labels < c
        onehot[keep, labels[keep]] = 1.0
        args = (onehot, lw)
    x = bad.requires_grad_()
    out = loss(x, *args)
    assert not torch.isfinite(out)
    out.backward()
    assert not torch.isfinite(x.grad).all()
    assert torch.equal(loss.acc_sum, acc)
    assert torch.equal(loss.ema_steps, steps)


def test_eval_mode_does_not_move_the_ema():
    loss = GHMC(bins=10, momentum=0.75)
    pred, labels, lw = _inputs(0)
    loss.eval()
    loss(pred, labels, lw)
    assert loss.acc_sum.abs().sum() == 0


def test_state_dict_round_trip_and_mmdet_compatibility(monkeypatch):
    ours = GHMC(bins=10, momentum=0.75)
    pred, labels, lw = _inputs(0)
    ours(pred, labels, lw)
    sd = ours.state_dict()
    assert set(sd) == {'acc_sum', 'ema_steps'}
    fresh = GHMC(bins=10, momentum=0.75)
    fresh.load_state_dict(sd, strict=True)
    assert torch.equal(fresh.acc_sum, ours.acc_sum)
    assert torch.equal(fresh.ema_steps, ours.ema_steps)
    # mmdet's GHMC state (edges + acc_sum) loads strictly into ours.
    ref = MMDetGHMC(bins=10, momentum=0.75)
    ref(pred, labels, lw)
    taken = GHMC(bins=10, momentum=0.75, bias_correction=False)
    taken.load_state_dict(ref.state_dict(), strict=True)
    assert torch.equal(taken.acc_sum, ref.acc_sum)
    # ... and then continues exactly like mmdet's.
    p2, l2, w2 = _inputs(1)
    assert torch.allclose(taken(p2, l2, w2), ref(p2, l2, w2), rtol=1e-6)
    # An empty state (a model trained with another loss) is fine too, and
    # said in the log when there is an EMA to start.
    said = []
    monkeypatch.setattr(ghm_state, 'print_log',
                        lambda msg, **kwargs: said.append(msg))
    GHMC(bins=10, momentum=0.75).load_state_dict({}, strict=True)
    assert len(said) == 1 and 'GHMC.acc_sum: not in the checkpoint' in \
        said[0] and 'starts fresh' in said[0]
    GHMC(bins=10).load_state_dict({}, strict=True)
    fresh.load_state_dict(sd, strict=True)
    assert len(said) == 1  # no EMA to start, or one taken over
    # Wrong number of bins is reported, not silently truncated.
    with pytest.raises(RuntimeError, match='bins=10'):
        GHMC(bins=5, momentum=0.75).load_state_dict(ref.state_dict())


@pytest.mark.parametrize('key,value,match', [
    ('acc_sum', float('nan'), 'non-finite'),
    ('acc_sum', -1.0, 'negative'),
    ('ema_steps', float('nan'), 'non-finite'),
    ('ema_steps', float('inf'), 'non-finite'),
    ('ema_steps', -2.0, 'negative'),
])
@pytest.mark.parametrize('strict', [True, False])
def test_corrupted_state_is_refused(key, value, match, strict):
    ours = GHMC(bins=10, momentum=0.75)
    ours(*_inputs(0))
    sd = {k: v.clone() for k, v in ours.state_dict().items()}
    sd[key][3] = value
    fresh = GHMC(bins=10, momentum=0.75)
    with pytest.raises(ValueError, match=f'{key}.*{match}'):
        fresh.load_state_dict(sd, strict=strict)
    # nothing of the corrupted state was taken
    assert fresh.acc_sum.abs().sum() == 0 and fresh.ema_steps.sum() == 0


@pytest.mark.parametrize('kwargs,match', [
    (dict(bins=0), 'bins'),
    (dict(bins=2.5), 'bins'),
    (dict(momentum=1.0), 'momentum'),
    (dict(momentum=-0.1), 'momentum'),
    (dict(use_sigmoid=False), 'use_sigmoid'),
    (dict(reduction='avg'), 'reduction'),
    (dict(loss_weight=float('nan')), 'loss_weight'),
])
def test_bad_configuration(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        GHMC(**kwargs)


def test_bad_inputs():
    loss = GHMC()
    pred = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r'\[0, 3\]'):
        loss(pred, torch.tensor([0, 1, 4, 2]))
    with pytest.raises(ValueError, match=r'\[0, 3\]'):
        loss(pred, torch.tensor([0, -1, 1, 2]))
    with pytest.raises(ValueError, match='target'):
        loss(pred, torch.zeros(4, 2))
    with pytest.raises(ValueError, match='label_weight'):
        loss(pred, torch.tensor([0, 1, 2, 3]), torch.ones(5))
    with pytest.raises(TypeError, match='integer'):
        loss(pred, torch.tensor([0., 1., 2., 3.]))
    with pytest.raises(ValueError, match='reduction_override'):
        loss(pred, torch.tensor([0, 1, 2, 3]), reduction_override='avg')
    with pytest.raises(TypeError, match='pred'):
        loss(torch.ones(4, 3, dtype=torch.long), torch.tensor([0, 1, 2, 3]))
    # [N, C] targets must be binary (soft or class-id values were taken
    # silently before)
    with pytest.raises(ValueError, match='binary'):
        loss(pred, torch.full((4, 3), 0.5))
    with pytest.raises(ValueError, match='binary'):
        loss(pred, torch.tensor([[0, 2, 0]] * 4))


def test_empty_input_gives_zero_with_graph():
    pred = torch.zeros(0, 3, requires_grad=True)
    out = GHMC(bins=10, momentum=0.5)(pred, torch.zeros(0, dtype=torch.long))
    assert out.item() == 0
    out.backward()
    assert pred.grad.shape == (0, 3)


@pytest.mark.parametrize('momentum', [0.0, 0.75])
def test_per_level_calls_before_one_backward(momentum):
    # mmdet's heads call the loss once per FPN level and backpropagate the
    # sum: the reused scratch buffers must not corrupt earlier levels'
    # saved gradients. Sizes whose logit count is not a multiple of 16
    # exercise the tail of the interleaved counting.
    levels = [_inputs(10 + k, n=n, c=7) for k, n in enumerate((401, 97, 13))]
    ours = GHMC(bins=30, momentum=momentum, bias_correction=False)
    ref = MMDetGHMC(bins=30, momentum=momentum)
    xs = [p.clone().requires_grad_() for p, _, _ in levels]
    refs = [p.clone().requires_grad_() for p, _, _ in levels]
    total = sum(ours(x, lab, lw) for x, (_, lab, lw) in zip(xs, levels))
    expected = sum(ref(x, lab, lw) for x, (_, lab, lw) in zip(refs, levels))
    (total * 3.0).backward()
    (expected * 3.0).backward()
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    for x, r in zip(xs, refs):
        assert torch.allclose(x.grad, r.grad, rtol=1e-6, atol=1e-12)
    if momentum > 0:
        assert torch.allclose(ours.acc_sum, ref.acc_sum, rtol=1e-6)


def test_second_backward_through_the_same_loss_is_refused():
    pred, labels, lw = _inputs(4)
    x = pred.clone().requires_grad_()
    out = GHMC(bins=10)(x, labels, lw)
    out.backward(retain_graph=True)
    first = x.grad.clone()
    with pytest.raises(RuntimeError, match='differentiated twice'):
        out.backward()
    assert torch.equal(x.grad, first)


def test_index_targets_with_per_logit_weights_equal_one_hot_targets():
    pred, labels, _ = _inputs(8, n=203, c=6)
    lw = (torch.rand(203, 6, generator=torch.Generator().manual_seed(1))
          > 0.3).float()
    onehot = torch.zeros(203, 6)
    fg = labels < 6
    onehot[fg, labels[fg]] = 1
    for reduction in ('mean', 'none'):
        loss = GHMC(bins=12, momentum=0.5, reduction=reduction)
        l1, g1 = loss_and_grad(loss, pred, labels, lw)
        l2, g2 = loss_and_grad(
            GHMC(bins=12, momentum=0.5, reduction=reduction), pred, onehot, lw)
        # softplus(-x) (ours, positives) and ATen's BCE formula round
        # differently in the last bits
        assert torch.allclose(l1, l2, rtol=1e-6, atol=1e-6)
        assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12)


def test_non_contiguous_logits_give_the_same_loss_and_gradient():
    pred, labels, lw = _inputs(9, n=150, c=7)
    strided = pred.t().contiguous().t()  # same values, column-major
    assert not strided.is_contiguous()
    l1, g1 = loss_and_grad(GHMC(bins=10, momentum=0.5), pred, labels, lw)
    l2, g2 = loss_and_grad(GHMC(bins=10, momentum=0.5), strided, labels, lw)
    # torch's sigmoid rounds strided inputs differently in the last bit
    assert torch.allclose(l1, l2, rtol=1e-6)
    assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-12)
