"""Mixed precision: a non-finite fp16 score makes the ranking losses return
NaN losses and gradients (GradScaler skips the step, as with focal loss)
and leaves their state alone, float32 keeps the clear error; Rank & Sort's
IoU targets stay float32 under fp16 scores."""
import math

import pytest
import torch

from mmdet_lossplus.core.global_ranking import NonFiniteScores
from mmdet_lossplus.losses import APLoss, RankSortLoss, aLRPLoss


def _batch(dtype, bad=None):
    g = torch.Generator().manual_seed(3)
    n, c = 200, 4
    pred = (torch.randn(n, c, generator=g) * 2).to(dtype)
    target = torch.randint(0, c + 1, (n, ), generator=g)
    ious = torch.rand(n, generator=g) * 0.9 + 0.05
    if bad is not None:
        pred[5, 1] = bad
    n_pos = int((target < c).sum())
    return pred, target, ious, torch.rand(n_pos, generator=g)


def _call(name, pred, target, ious, loc, module=None):
    x = pred.clone().requires_grad_()
    if name == 'ap':
        module = module or APLoss()
        out = (module(x, target), )
    elif name == 'ranksort':
        module = module or RankSortLoss()
        out = module(x, (target, ious))
    else:
        module = module or aLRPLoss(sb_interval=1)
        out = module(x, target, loc_errors=loc)
    sum(out).backward()
    return [o.detach() for o in out], x.grad


@pytest.mark.parametrize('name', ['ap', 'ranksort', 'alrp'])
@pytest.mark.parametrize('bad', [math.inf, -math.inf, math.nan])
def test_nonfinite_fp16_gives_nan_loss_and_gradient(name, bad):
    out, grad = _call(name, *_batch(torch.float16, bad))
    assert all(torch.isnan(o) for o in out)
    assert grad.dtype == torch.float16 and torch.isnan(grad).all()


@pytest.mark.parametrize('name', ['ap', 'ranksort', 'alrp'])
def test_nonfinite_float32_is_an_error(name):
    with pytest.raises(NonFiniteScores, match='non-finite'):
        _call(name, *_batch(torch.float32, math.nan))


@pytest.mark.parametrize('name', ['ap', 'ranksort', 'alrp'])
def test_finite_fp16_is_unchanged_by_the_policy(name):
    out16, grad16 = _call(name, *_batch(torch.float16))
    pred, *rest = _batch(torch.float16)
    out32, grad32 = _call(name, pred.float(), *rest)
    for a, b in zip(out16, out32):
        assert torch.isfinite(a) and torch.allclose(a, b, rtol=1e-5)
    assert torch.allclose(grad16.float(), grad32, rtol=1e-2, atol=1e-4)


def test_a_skipped_step_does_not_move_alrps_self_balance():
    loss = aLRPLoss(sb_interval=3)
    _call('alrp', *_batch(torch.float16), module=loss)
    sums, calls = loss._sums.clone(), loss._calls
    _call('alrp', *_batch(torch.float16, math.inf), module=loss)
    assert torch.equal(loss._sums, sums) and loss._calls == calls + 1
    # the interval completes: SB comes from the two finite calls alone
    _call('alrp', *_batch(torch.float16), module=loss)
    clean = aLRPLoss(sb_interval=2)
    for _ in range(2):
        _call('alrp', *_batch(torch.float16), module=clean)
    assert clean.sb_weight.item() != 50.0  # re-estimated
    assert loss.sb_weight.item() == pytest.approx(clean.sb_weight.item())
