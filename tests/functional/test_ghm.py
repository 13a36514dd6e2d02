"""GHM maths: against plain transcriptions and hand-computed values."""
import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from mmdet_lossplus.functional import ghm
from mmdet_lossplus.functional.ghm import (ghm_bin_counts, ghm_bin_index,
                                           ghm_density, ghm_ema_update,
                                           ghm_weights, ghmc_elementwise,
                                           ghmc_gradient_norm,
                                           ghmr_elementwise, with_gradient)
from mmdet_lossplus.functional.scratch import ScratchBuffers


def loop_bin_index(g, valid, bins):
    """Plain transcription of the definition with exact rational edges:
    bin i iff i/M <= g < (i+1)/M, the last bin closed at 1."""
    out = torch.full(g.shape, bins, dtype=torch.int32)
    for k in range(g.numel()):
        if not valid.view(-1)[k]:
            continue
        value = Fraction(float(g.view(-1)[k]))
        for i in range(bins):
            upper_ok = value < Fraction(i + 1, bins) or i == bins - 1
            if Fraction(i, bins) <= value and upper_ok:
                out.view(-1)[k] = i
    return out


def test_bin_index_matches_the_definition():
    torch.manual_seed(0)
    g = torch.cat([torch.rand(300), torch.tensor([1.0, 0.0, 0.5, 0.25])])
    valid = torch.rand(g.shape) > 0.2
    for bins in (1, 4, 10, 30):
        idx = ghm_bin_index(g, bins, valid)
        assert idx.dtype == torch.uint8  # one byte per sample
        assert torch.equal(idx.long(), loop_bin_index(g, valid, bins).long())


def test_bin_dtype_is_the_narrowest_that_holds_every_slot():
    assert [ghm.bin_dtype(m) for m in (1, 30, 255, 256, 32767, 32768)] == [
        torch.uint8, torch.uint8, torch.uint8, torch.int16, torch.int16,
        torch.int32
    ]


@pytest.mark.parametrize('bins', [255, 256, 40000])
def test_wide_bin_counts_use_wider_integers(bins):
    """Bin centres k + 1/2 of M bins land in bin k in every integer width,
    the invalid ones in slot M."""
    g = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
    g = g.float()
    valid = torch.arange(bins) % 7 != 3
    idx = ghm_bin_index(g, bins, valid)
    assert idx.dtype == ghm.bin_dtype(bins)
    expected = torch.where(valid, torch.arange(bins), bins)
    assert torch.equal(idx.long(), expected)


@pytest.mark.parametrize('dtype', [torch.uint8, torch.int16, torch.int32])
def test_store_bins_clamps_negatives_and_nan_as_integers(dtype):
    """A narrow type must not wrap: -3.7 -> 0 (or 3 with ``absolute``), a
    NaN -> 0, above the top -> the top; also across a CHUNK boundary."""
    values = torch.tensor([-3.7, float('nan'), 2.2, 300.0, 9.99])
    out = torch.empty(5, dtype=dtype)
    assert ghm._store_bins(values, out, 10).tolist() == [0, 0, 2, 10, 9]
    assert ghm._store_bins(
        values, out, 10, absolute=True).tolist() == [3, 0, 2, 10, 9]
    long = torch.linspace(-20, 300, ghm.CHUNK + 5)
    narrow = ghm._store_bins(long, torch.empty(long.shape, dtype=dtype), 200)
    wide = ghm._store_bins(long, torch.empty(long.shape, dtype=torch.int32),
                           200)
    assert torch.equal(narrow.long(), wide.long())


def test_bin_index_agrees_with_mmdet_edges_away_from_ulps():
    # mmdet compares with float32 edges; both rules agree unless g is
    # within a float32 ulp of an edge.
    torch.manual_seed(1)
    g = torch.rand(100000)
    edges = torch.arange(31, dtype=torch.float32) / 30  # mmdet's edges
    edges[-1] += 1e-6
    mmdet_rule = torch.bucketize(g, edges, right=True) - 1
    assert torch.equal(ghm_bin_index(g, 30).long(), mmdet_rule)


def test_non_finite_norms_land_in_a_regular_bin():
    # A NaN is not dropped silently: it stays in a bin (callers detect it
    # through its non-finite loss).
    g = torch.tensor([float('nan'), 0.3, 0.9])
    idx = ghm_bin_index(g, 4)
    assert ((idx >= 0) & (idx < 4)).all()


def test_counts_and_weights_hand_computed():
    # 6 valid samples: bins 0,0,0,1,3,3 of M=4 -> counts 3,1,0,2, n=3.
    idx = torch.tensor([0, 0, 0, 1, 3, 3, 4], dtype=torch.int32)
    counts = ghm_bin_counts(idx, 4)
    assert counts.tolist() == [3, 1, 0, 2]  # slot 4 (invalid) dropped
    w = ghm_weights(counts, counts, torch.tensor(6.0))
    expected = [6 / (3 * 3), 6 / (1 * 3), 0.0, 6 / (2 * 3), 0.0]
    assert w.tolist() == pytest.approx(expected)
    # Each non-empty bin gets tot / n in total.
    assert (w[idx.long()].sum()).item() == pytest.approx(6.0)


def test_ghmc_with_one_bin_is_mean_bce_with_gradients():
    torch.manual_seed(1)
    x = torch.randn(50, 3)
    y = (torch.rand(50, 3) > 0.7).float()
    idx = ghm_bin_index(ghmc_gradient_norm(x, y), 1)
    bce = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    counts = ghm_bin_counts(idx, 1)
    tot = torch.tensor(150.0)
    w = (ghm_weights(counts, counts, tot) / tot).float()[idx.long()]
    ours_x = x.clone().requires_grad_()
    ours = with_gradient(ours_x, (w * bce).sum(), w * (torch.sigmoid(x) - y))
    ref_x = x.clone().requires_grad_()
    ref = F.binary_cross_entropy_with_logits(ref_x, y)
    ours.backward()
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(ours_x.grad, ref_x.grad, rtol=1e-6, atol=1e-9)


def test_ema_updates_non_empty_bins_only():
    acc = torch.tensor([4.0, 2.0, 0.0])
    steps = torch.tensor([1.0, 1.0, 0.0])
    counts = torch.tensor([8.0, 0.0, 2.0], dtype=torch.float64)
    new_acc, new_steps = ghm_ema_update(acc, steps, counts, 0.75)
    assert new_acc.tolist() == pytest.approx([0.75 * 4 + 0.25 * 8, 2.0, 0.5])
    assert new_steps.tolist() == [2.0, 1.0, 1.0]
    # the inputs are not modified
    assert acc.tolist() == [4.0, 2.0, 0.0] and steps.tolist() == [1, 1, 0]


def test_bias_correction_recovers_counts_after_first_update():
    counts = torch.tensor([5.0, 0.0, 7.0], dtype=torch.float64)
    acc, steps = ghm_ema_update(torch.zeros(3), torch.zeros(3), counts, 0.9)
    corrected = ghm_density(counts, acc, steps, 0.9, bias_correction=True)
    raw = ghm_density(counts, acc, steps, 0.9, bias_correction=False)
    assert corrected[[0, 2]].tolist() == pytest.approx([5.0, 7.0])
    assert raw[[0, 2]].tolist() == pytest.approx([0.5, 0.7])


@pytest.mark.parametrize('numel', [0, 1, 15, 16, 17, 1000, 4099])
def test_bin_counts_with_interleaved_counters_equal_a_plain_count(
        monkeypatch, numel):
    g = torch.Generator().manual_seed(numel)
    bins = 7
    # skewed, as GHM-R's norms: most samples in the last bin
    idx = torch.where(
        torch.rand(numel, generator=g) < 0.8, bins - 1,
        torch.randint(0, bins + 1, (numel, ), generator=g)).to(torch.int32)
    expected = [int((idx == i).sum()) for i in range(bins)]
    assert ghm_bin_counts(idx, bins).tolist() == expected
    assert ghm_bin_counts(idx.view(-1, 1), bins, True).tolist() == expected
    # in passes of 32 samples: several chunks and a tail
    monkeypatch.setattr(ghm, 'CHUNK', 32)
    assert ghm_bin_counts(idx, bins).tolist() == expected
    assert ghm_bin_counts(idx, bins, True).tolist() == expected


def test_elementwise_results_do_not_depend_on_scratch_buffers():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(37, 5, generator=g) * 4
    scratch = ScratchBuffers()
    fresh = ghmc_elementwise(x, 30)
    for _ in range(2):  # the second call reuses the buffers
        reused = ghmc_elementwise(x, 30, scratch)
        for a, b in zip(fresh, reused):
            assert torch.equal(a, b)
    assert torch.equal(fresh[0], torch.sigmoid(x))
    assert torch.equal(fresh[1], ghm_bin_index(torch.sigmoid(x), 30))
    assert torch.equal(fresh[2], F.softplus(x))
    pred, target = torch.randn(37, 4, generator=g), torch.randn(37, 4)
    lw = (torch.rand(37, 4, generator=g) > 0.3).float()
    fresh = ghmr_elementwise(pred, target, lw, 0.02, 10)
    reused = ghmr_elementwise(pred, target, lw, 0.02, 10, scratch)
    for a, b in zip(fresh, reused):
        assert torch.equal(a, b)


def test_ghmr_elementwise_by_the_formula_with_ignored_entries():
    pred = torch.tensor([[0.5, -0.01, 3.0, 0.0], [0.2, 0.2, -1.0, 1.0]])
    target = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.3, 0.2, 5.0, -1.0]])
    lw = torch.tensor([[1.0, 2.0, 0.0, 1.0], [0.5, 1.0, -1.0, 1.0]])
    mu, bins = 0.02, 10
    grad, idx, loss = ghmr_elementwise(pred, target, lw, mu, bins)
    for k in range(8):
        p, t, w = (float(v.view(-1)[k]) for v in (pred, target, lw))
        r = math.sqrt((p - t)**2 + mu * mu)
        if w > 0:
            assert loss.view(-1)[k].item() == pytest.approx(r - mu, rel=1e-6)
            assert grad.view(-1)[k].item() == pytest.approx(
                (p - t) / r, rel=1e-6)
            assert idx.view(-1)[k] == min(int(abs(p - t) / r * bins), bins - 1)
        else:  # ignored: no loss, no gradient, the invalid slot
            assert loss.view(-1)[k] == 0 and grad.view(-1)[k] == 0
            assert idx.view(-1)[k] == bins


def test_ghmr_elementwise_half_inputs_subtract_in_float32():
    pred = torch.tensor([1000.0, 0.1], dtype=torch.float16)
    target = torch.tensor([999.5, 0.0], dtype=torch.float16)
    grad, _, loss = ghmr_elementwise(pred, target, None, 0.02, 10)
    d = pred.float() - target.float()
    assert loss.dtype == torch.float32
    assert torch.equal(loss, torch.sqrt(d * d + 0.02**2) - 0.02)


@pytest.mark.parametrize('select_rows', [True, False])
@pytest.mark.parametrize('weights', ['none', 'anchor', 'logit'])
def test_index_targets_equal_a_dense_one_hot_transcription(
        weights, select_rows):
    from mmdet_lossplus.functional.ghm import (ghmc_binary_targets,
                                               ghmc_index_targets)
    g = torch.Generator().manual_seed(5)
    n, c, m = 40, 3, 10
    x = torch.randn(n, c, generator=g, dtype=torch.float32) * 3
    target = torch.randint(0, c + 1, (n, ), generator=g)
    anchor_w = (torch.rand(n, generator=g) > 0.3).float()
    label_weight = {
        'none': None,
        'anchor': anchor_w,
        'logit': (torch.rand(n, c, generator=g) > 0.3).float()
    }[weights]
    # dense reference, entry by entry
    y = torch.zeros(n, c)
    for i in range(n):
        if target[i] < c:
            y[i, target[i]] = 1.0
    if label_weight is None:
        valid = torch.ones(n, c, dtype=torch.bool)
    elif label_weight.dim() == 1:
        valid = (label_weight > 0)[:, None].expand(n, c)
    else:
        valid = label_weight > 0
    grad, bins, loss, tot = ghmc_index_targets(
        x, target, label_weight, m, select_rows=select_rows)
    for i in range(n):
        for k in range(c):
            p = 1 / (1 + math.exp(-float(x[i, k])))
            yk = float(y[i, k])
            if valid[i, k]:  # an ignored entry's gradient is weighted 0
                assert float(grad[i, k]) == pytest.approx(p - yk, abs=1e-6)
                want_bin = min(int(abs(p - yk) * m), m - 1)
                assert int(bins[i, k]) == want_bin
                bce = -(yk * math.log(p) + (1 - yk) * math.log(1 - p))
                assert float(loss[i, k]) == pytest.approx(bce, rel=1e-5)
            else:  # bin M, weighted 0 (the loss there is not used)
                assert int(bins[i, k]) == m
    assert int(tot) == int(valid.sum())
    # the binary-target path agrees
    g2, b2, l2, t2 = ghmc_binary_targets(x, y, valid, m)
    assert torch.allclose(g2[valid], grad[valid], atol=1e-6)
    assert torch.equal(b2, bins)
    assert torch.allclose(l2[valid], loss[valid], rtol=1e-4, atol=1e-7)
    assert int(t2) == int(tot)
