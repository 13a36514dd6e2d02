"""Every loss under ``torch.use_deterministic_algorithms(True)`` (mmengine's
``randomness.deterministic=True``), on its CUDA branches (forced on CPU):
no operator that CUDA refuses in that mode (the list and its source are in
tests/sync_counter.py), the same values as without the mode, and two runs
bitwise identical."""
import math

import pytest
import torch
from sync_counter import cuda_behaviour

from mmdet_lossplus.functional import torch_compat
from mmdet_lossplus.functional.multibin import make_spec, multibin_encode
from mmdet_lossplus.losses import (GHMC, GHMR, APLoss, CIoULoss, DIoULoss,
                                   GIoULoss, MultiBinLoss, RankSortLoss,
                                   aLRPLoss)


def _call(name):
    """``(loss, pred, args, kwargs)`` of one training call."""
    g = torch.Generator().manual_seed(4)
    n, c = 600, 6
    pred = torch.randn(n, c, generator=g) * 2
    target = torch.randint(0, c + 1, (n, ), generator=g)
    weight = (torch.rand(n, generator=g) > 0.1).float()
    ious = torch.rand(n, generator=g) * 0.9 + 0.05
    xy = torch.rand(n, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 30 + 1], 1)
    n_pos = int(((target < c) & (weight > 0)).sum())
    angles = (torch.rand(n, generator=g) * 2 - 1) * math.pi
    return {
        'ghmc': (GHMC(bins=10, momentum=0.75), pred, (target, weight), {}),
        'ghmr': (GHMR(bins=10, momentum=0.75), boxes[:, :4] / 50,
                 (boxes[:, :4] / 50 + 0.1, ), {}),
        'giou':
        (GIoULoss(), boxes + torch.randn(n, 4, generator=g), (boxes, ), {}),
        'diou':
        (DIoULoss(), boxes + torch.randn(n, 4, generator=g), (boxes, ), {}),
        'ciou':
        (CIoULoss(), boxes + torch.randn(n, 4, generator=g), (boxes, ), {}),
        'multibin': (MultiBinLoss(num_bins=4), torch.randn(n, 12, generator=g),
                     (multibin_encode(angles, make_spec(4,
                                                        overlap=0.4)), ), {}),
        'ap': (APLoss(), pred, (target, weight), {}),
        'ranksort': (RankSortLoss(), pred, ((target, ious), weight), {}),
        'alrp': (aLRPLoss(sb_interval=2), pred, (target, weight), {
            'loc_errors': torch.rand(n_pos, generator=g)
        }),
    }[name]


def _run(name):
    loss, pred, args, kwargs = _call(name)
    x = pred.clone().requires_grad_()
    out = loss(x, *args, **kwargs)
    out = torch.stack(list(out)) if isinstance(out, tuple) else out
    out.sum().backward()
    return out.detach(), x.grad


NAMES = [
    'ghmc', 'ghmr', 'giou', 'diou', 'ciou', 'multibin', 'ap', 'ranksort',
    'alrp'
]


@pytest.fixture
def deterministic(monkeypatch):
    monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', True)
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.mark.parametrize('name', NAMES)
def test_deterministic_mode(deterministic, name):
    torch.use_deterministic_algorithms(False)
    free = _run(name)
    torch.use_deterministic_algorithms(True)
    mode = cuda_behaviour(lambda: _run(name))
    assert dict(mode.refused) == {}, mode.refused
    first, second = _run(name), _run(name)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    for a, b in zip(first, free):
        # the scan that stands for CUDA's float cumsum there groups the
        # float64 additions differently
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
