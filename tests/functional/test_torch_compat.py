"""Each path of functional/torch_compat.py against the plain torch
operation it stands for (the portable path forced on CPU)."""
import pytest
import torch

from mmdet_lossplus.functional import torch_compat as tc


@pytest.fixture(params=[False, True], ids=['cpu-path', 'portable-path'])
def path(request, monkeypatch):
    monkeypatch.setattr(tc, 'FORCE_PORTABLE', request.param)
    return request.param


def test_torch_version():
    assert tc.torch_version('2.1.2+cu121') == (2, 1)
    assert tc.torch_version('2.13.0') == (2, 13)
    assert tc.torch_version('2.6.0a0+git1234') == (2, 6)
    with pytest.raises(ValueError, match='version'):
        tc.torch_version('nightly')


@pytest.mark.parametrize('n,p', [(0, 0.5), (1, 1.0), (7, 0.0), (1000, 0.3),
                                 (1000, 1.0)])
def test_true_positions(path, n, p):
    g = torch.Generator().manual_seed(n)
    mask = torch.rand(n, generator=g) < p
    want = torch.nonzero(mask).flatten()
    got = tc.true_positions(mask, int(mask.sum()))
    assert got.dtype == torch.int64 and torch.equal(got, want)


@pytest.mark.parametrize('n,size', [(0, 3), (5, 5), (1000, 41)])
def test_bin_sums(path, n, size):
    g = torch.Generator().manual_seed(n)
    idx = torch.randint(0, size, (n, ), generator=g)
    w = torch.rand(n, generator=g, dtype=torch.float64)
    counts = tc.bin_sums(idx, size)
    assert counts.dtype == torch.int64
    assert torch.equal(counts, torch.bincount(idx, minlength=size))
    sums = tc.bin_sums(idx, size, w)
    assert sums.dtype == torch.float64
    assert torch.allclose(
        sums,
        torch.bincount(idx, w, minlength=size).double(),
        rtol=1e-14,
        atol=0)


@pytest.mark.parametrize('shape', [(0, ), (1, ), (2, ), (3, ), (17, ),
                                   (1000, ), (33, 4)])
def test_cumsum0(path, shape):
    g = torch.Generator().manual_seed(shape[0])
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    want = torch.cumsum(x, 0)
    assert torch.allclose(tc.cumsum0(x), want, rtol=1e-12, atol=1e-12)
    out = torch.empty_like(x)
    assert tc.cumsum0(x, out=out) is out
    assert torch.allclose(out, want, rtol=1e-12, atol=1e-12)
    ints = torch.arange(shape[0])
    assert torch.equal(tc.cumsum0(ints), torch.cumsum(ints, 0))


@pytest.mark.parametrize('dtype',
                         [torch.float16, torch.bfloat16, torch.float32])
def test_has_finite_extremes(path, dtype):
    x = torch.randn(100).to(dtype)
    assert bool(tc.has_finite_extremes(x))
    for bad in (float('nan'), float('inf'), -float('inf')):
        y = x.clone()
        y[37] = bad
        assert not bool(tc.has_finite_extremes(y))


def test_device_scalar():
    t = tc.device_scalar(3, torch.float32, 'cpu')
    assert t.shape == () and t.dtype == torch.float32 and t.item() == 3.0
    src = torch.tensor([2.0], dtype=torch.float64)
    assert tc.device_scalar(src, torch.float32, 'cpu').dtype == torch.float32
