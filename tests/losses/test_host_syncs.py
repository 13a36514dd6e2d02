"""Host synchronisations of one training loss call (forward + backward) as
CUDA would make them, counted on CPU with a dispatch mode
(tests/sync_counter.py), the CUDA branches forced
(``torch_compat.FORCE_PORTABLE``).

Budget: GHM-C, GHM-R, the IoU family and multi-bin none; AP-loss, Rank &
Sort and aLRP one (the count table: positives, non-finite
scores, failed input checks), and no device-side assertion (a bad label is
a ``ValueError`` read with that table). On CPU, where nothing waits, GHM-C
selects its positive and ignored rows (cheaper there); both paths give the
same results.
"""
import math

import pytest
import torch
from sync_counter import count_host_syncs, cuda_behaviour
from torch import nn

from mmdet_lossplus.functional import torch_compat
from mmdet_lossplus.functional.multibin import make_spec, multibin_encode
from mmdet_lossplus.losses import (GHMC, GHMR, APLoss, CIoULoss, DIoULoss,
                                   GIoULoss, MultiBinLoss, RankSortLoss,
                                   aLRPLoss)


@pytest.fixture
def cuda_branches(monkeypatch):
    monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', True)


def _cls(seed=0, n=3000, c=8):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g) * 2
    target = torch.randint(0, c + 1, (n, ), generator=g)
    weight = (torch.rand(n, generator=g) > 0.1).float()
    return pred, target, weight


def _boxes(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    wh = torch.rand(n, 2, generator=g) * 30 + 1
    target = torch.cat([xy, xy + wh], 1)
    pred = target + torch.randn(n, 4, generator=g)
    return pred, target


def _step(loss, pred, *args, **kwargs):
    x = pred.clone().requires_grad_()

    def run():
        out = loss(x, *args, **kwargs)
        out = sum(out) if isinstance(out, tuple) else out
        out.backward()

    return run


def _ranking_calls():
    pred, target, weight = _cls()
    c = pred.shape[1]
    g = torch.Generator().manual_seed(5)
    ious = torch.rand(pred.shape[0], generator=g) * 0.9 + 0.05
    n_pos = int(((target < c) & (weight > 0)).sum())
    loc = torch.rand(n_pos, generator=g)
    return {
        'ap': (APLoss(), pred, (target, weight), {}),
        'ranksort': (RankSortLoss(), pred, ((target, ious), weight), {}),
        'alrp': (aLRPLoss(sb_interval=2), pred, (target, weight), {
            'loc_errors': loc
        }),
    }


@pytest.mark.parametrize('weights', ['none', 'anchor', 'logit'])
def test_ghmc_makes_no_host_sync(cuda_branches, weights):
    pred, target, weight = _cls()
    args = {
        'none': (target, ),
        'anchor': (target, weight),
        'logit': (target, weight[:, None].expand_as(pred))
    }[weights]
    loss = GHMC(bins=30, momentum=0.75)
    mode = cuda_behaviour(_step(loss, pred, *args))
    assert dict(mode.syncs) == {} and dict(mode.refused) == {}


def test_ghmc_cpu_path_only_selects_rows():
    pred, target, weight = _cls()
    loss = GHMC(bins=30, momentum=0.75)
    cpu = count_host_syncs(_step(loss, pred, target, weight))
    assert set(cpu) <= {'nonzero', 'boolean-mask indexing', 'bincount'}


@pytest.mark.parametrize('weights', ['none', 'anchor', 'logit'])
def test_both_ways_of_correcting_rows_agree(weights):
    from mmdet_lossplus.functional.ghm import ghmc_index_targets
    pred, target, weight = _cls(3)
    lw = {
        'none': None,
        'anchor': weight,
        'logit': weight[:, None].expand_as(pred).contiguous()
    }[weights]
    a = ghmc_index_targets(pred, target, lw, 30, select_rows=True)
    b = ghmc_index_targets(pred, target, lw, 30, select_rows=False)
    assert torch.equal(a[1], b[1])  # bins
    valid = a[1] < 30
    # the row-wise path recomputes sigmoid/softplus of the gathered
    # logits: equal to the last float32 bit or so
    assert torch.allclose(a[0][valid], b[0][valid], rtol=1e-6, atol=1e-7)
    assert torch.allclose(a[2][valid], b[2][valid], rtol=1e-6, atol=1e-7)
    assert a[3].item() == b[3].item()


def test_ghmr_makes_no_host_sync(cuda_branches):
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(500, 4, generator=g)
    target = torch.randn(500, 4, generator=g)
    weight = (torch.rand(500, 1, generator=g) > 0.5).float().expand(500, 4)
    loss = GHMR(bins=10, momentum=0.7)
    mode = cuda_behaviour(_step(loss, pred, target, weight))
    assert dict(mode.syncs) == {} and dict(mode.refused) == {}


@pytest.mark.parametrize('loss_cls', [GIoULoss, DIoULoss, CIoULoss])
@pytest.mark.parametrize('avg_factor', [None, 37.0])
def test_iou_losses_make_no_host_sync(cuda_branches, loss_cls, avg_factor):
    pred, target = _boxes()
    weight = torch.rand(pred.shape[0])
    mode = cuda_behaviour(
        _step(loss_cls(), pred, target, weight, avg_factor=avg_factor))
    assert dict(mode.syncs) == {} and dict(mode.refused) == {}
    assert mode.device_asserts == 0


@pytest.mark.parametrize('avg_factor', [None, 12.0])
def test_multibin_makes_no_host_sync(cuda_branches, avg_factor):
    g = torch.Generator().manual_seed(2)
    angles = (torch.rand(50, generator=g) * 2 - 1) * math.pi
    enc = multibin_encode(angles, make_spec(4, overlap=0.4))
    pred = torch.randn(50, 12, generator=g)
    mode = cuda_behaviour(
        _step(MultiBinLoss(num_bins=4), pred, enc, avg_factor=avg_factor))
    assert dict(mode.syncs) == {} and dict(mode.refused) == {}
    assert mode.device_asserts == 0


@pytest.mark.parametrize('name', ['ap', 'ranksort', 'alrp'])
def test_ranking_losses_make_one_host_sync_and_no_device_assert(
        cuda_branches, name):
    loss, pred, args, kwargs = _ranking_calls()[name]
    mode = cuda_behaviour(_step(loss, pred, *args, **kwargs))
    assert dict(mode.syncs) == {'Tensor.tolist': 1}, mode.syncs
    assert mode.device_asserts == 0
    assert dict(mode.refused) == {}, mode.refused


@pytest.mark.parametrize('name', ['ap', 'ranksort', 'alrp'])
def test_ranking_losses_same_values_on_both_paths(monkeypatch, name):
    results = []
    for forced in (False, True):
        monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', forced)
        loss, pred, args, kwargs = _ranking_calls()[name]
        x = pred.clone().double().requires_grad_()
        out = loss(x, *args, **kwargs)
        out = out if isinstance(out, tuple) else (out, )
        sum(out).backward()
        results.append((torch.stack([o.detach() for o in out]), x.grad))
    (v0, g0), (v1, g1) = results
    # the portable scan groups float64 additions differently
    assert torch.allclose(v0, v1, rtol=1e-12, atol=1e-12)
    assert torch.allclose(g0, g1, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize('name', ['ap', 'ranksort', 'alrp'])
def test_a_bad_label_is_a_value_error_read_with_the_counts(
        cuda_branches, name):
    loss, pred, args, kwargs = _ranking_calls()[name]
    c = pred.shape[1]
    target = args[0][0] if name == 'ranksort' else args[0]
    bad = target.clone()
    bad[7] = c + 3  # outside [0, C]
    if name == 'ranksort':
        args = ((bad, args[0][1]), ) + args[1:]
    else:
        args = (bad, ) + args[1:]
    caught = []

    def call():
        try:
            _step(loss, pred, *args, **kwargs)()
        except ValueError as err:
            caught.append(str(err))

    mode = cuda_behaviour(call)
    assert caught and f'target labels must be in [0, {c}]' in caught[0]
    assert mode.device_asserts == 0
    assert dict(mode.syncs) == {'Tensor.tolist': 1}


def test_an_iou_target_out_of_range_is_a_value_error(cuda_branches):
    loss, pred, args, _ = _ranking_calls()['ranksort']
    (target, ious), weight = args
    ious = ious.clone()
    ious[3] = 1.5
    with pytest.raises(ValueError, match=r'IoU targets must lie in \[0, 1\]'):
        _step(loss, pred, (target, ious), weight)()


@pytest.mark.parametrize('bad', ['label', 'binary'])
def test_ghmc_bad_input_on_cuda_is_a_value_error_at_the_state_check(
        cuda_branches, bad):
    """GHM-C makes no host read, so on CUDA its input checks cannot raise
    at the call: the call makes no sync and no device-side assert (a bad
    label is clamped, never an out-of-bounds index), and
    LossStateCheckHook's next check raises ValueError naming the check;
    the count is then reset. On CPU the same input raises at the call."""
    from mmdet_lossplus.hooks import LossStateCheckHook
    pred, target, weight = _cls(5)
    if bad == 'label':
        target = target.clone()
        target[7] = pred.shape[1] + 3  # outside [0, C]
        args, match = (target, weight), r'target labels must be in \[0, 8\]'
    else:
        binary = torch.zeros_like(pred)
        binary[3, 2] = 0.5  # not 0 or 1
        args, match = (binary, None), 'must be binary'
    model = nn.ModuleDict(dict(loss_cls=GHMC(bins=30, momentum=0.75)))
    mode = cuda_behaviour(_step(model['loss_cls'], pred, *args))
    assert dict(mode.syncs) == {} and mode.device_asserts == 0
    hook = LossStateCheckHook(interval=1)
    with pytest.raises(ValueError, match=match):
        hook.check(model, iteration=4)
    assert hook.check(model, iteration=5) == 0.0  # reported once
    # a good call leaves nothing to report
    _step(model['loss_cls'], pred, *_cls(5)[1:])()
    assert hook.check(model, iteration=6) == 0.0


def test_ghmc_bad_label_on_cpu_raises_at_the_call():
    pred, target, weight = _cls(5)
    target = target.clone()
    target[7] = -1
    with pytest.raises(ValueError, match=r'target labels must be in'):
        GHMC(bins=30)(pred, target, weight)
