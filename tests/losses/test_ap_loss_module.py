"""APLoss module: mmdet's target convention, autograd = error-driven update."""
import pytest
import torch
from ap_loss_reference import reference_ap_loss

from mmdet_lossplus.losses import APLoss


def _inputs(seed, n=60, c=4):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g) * 2
    labels = torch.randint(0, c + 1, (n, ), generator=g)
    weights = (torch.rand(n, generator=g) > 0.2).float()
    return pred, labels, weights


def _flat_reference(pred, labels, weights):
    n, c = pred.shape
    flat_labels = []
    for a in range(n):
        for k in range(c):
            if weights[a] <= 0:
                flat_labels.append(-1)
            else:
                flat_labels.append(1 if labels[a] == k else 0)
    return reference_ap_loss(pred.double().reshape(-1).tolist(), flat_labels,
                             1.0)


@pytest.mark.parametrize('seed', range(3))
def test_value_and_gradient_are_the_reference_update(seed):
    pred, labels, weights = _inputs(seed)
    x = pred.clone().requires_grad_()
    loss = APLoss(loss_weight=2.0)(x, labels, weights, avg_factor=123.0)
    loss.backward()
    ref_loss, ref_update = _flat_reference(pred, labels, weights)
    assert loss.item() == pytest.approx(2 * ref_loss, rel=1e-6)
    expected = 2 * torch.tensor(ref_update).reshape(pred.shape)
    assert torch.allclose(x.grad, expected.float(), atol=1e-7)


def test_one_hot_targets_and_per_class_weights_agree_with_indices():
    pred, labels, weights = _inputs(5)
    onehot = torch.zeros_like(pred)
    fg = labels < pred.shape[1]
    onehot[fg, labels[fg]] = 1
    a = APLoss()(pred, labels, weights)
    b = APLoss()(pred, onehot, weights[:, None].expand_as(pred))
    assert a.item() == pytest.approx(b.item(), rel=1e-7)


def test_training_lowers_the_loss():
    pred, labels, weights = _inputs(1, n=200)
    x = pred.clone().requires_grad_()
    opt = torch.optim.SGD([x], lr=50.0)
    loss_fn = APLoss()
    first = loss_fn(x, labels, weights).item()
    for _ in range(30):
        opt.zero_grad()
        loss_fn(x, labels, weights).backward()
        opt.step()
    assert loss_fn(x, labels, weights).item() < 0.5 * first


def test_half_precision_and_empty_input():
    pred, labels, weights = _inputs(2)
    x = pred.half().requires_grad_()
    APLoss()(x, labels, weights).backward()
    assert x.grad.dtype == torch.float16 and torch.isfinite(x.grad).all()
    empty = torch.zeros(0, 4, requires_grad=True)
    out = APLoss()(empty, torch.zeros(0, dtype=torch.long))
    assert out.item() == 0
    out.backward()
    assert empty.grad.shape == (0, 4)


@pytest.mark.parametrize('kwargs,match', [
    (dict(delta=0), 'delta'),
    (dict(delta=-1.0), 'delta'),
    (dict(scope='per_gpu'), 'scope'),
    (dict(use_sigmoid=False), 'use_sigmoid'),
    (dict(loss_weight=float('inf')), 'loss_weight'),
])
def test_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        APLoss(**kwargs)


def test_bad_inputs():
    pred, labels, weights = _inputs(0)
    with pytest.raises(ValueError, match='reduction_override'):
        APLoss()(pred, labels, weights, reduction_override='none')
    with pytest.raises(ValueError, match='target labels'):
        APLoss()(pred, labels + 10, weights)
    with pytest.raises(ValueError, match='target'):
        APLoss()(pred, labels[:-1], weights)
    bad = pred.clone()
    bad[torch.nonzero(weights > 0)[0, 0], 1] = float('nan')
    with pytest.raises(ValueError, match='non-finite'):
        APLoss()(bad, labels, weights)
    # on ignored anchors too: the network diverged all the same
    for value in (float('inf'), float('nan')):
        ignored = pred.clone()
        ignored[torch.nonzero(weights == 0)[0, 0], 1] = value
        with pytest.raises(ValueError, match='ignored ones included'):
            APLoss()(ignored, labels, weights)
    # [N, C] targets must be binary (soft values gave exactly 0 before)
    with pytest.raises(ValueError, match='binary'):
        APLoss()(pred, torch.full_like(pred, 0.5))
