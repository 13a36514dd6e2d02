"""Host round-trips of one training loss call (forward + backward), counted
on CPU through the profiler and the host-reading tensor methods
(tests/sync_counter.py): what a GPU would wait for.

Budget: GHM-C and GHM-R none on accelerators (the label checks are
asynchronous there, the positives and ignored anchors are corrected without
selecting rows, the counting avoids bincount); AP-loss one (the counts of
positives, kept negatives and non-finite scores, read together before the
entries are selected with ``nonzero_static``). On CPU, where the data are
on the host and nothing is waited for, GHM-C selects its positive and
ignored rows (cheaper there); the accelerator path is counted by forcing it
(``select_rows = False``), and both paths give the same results.
"""
import pytest
import torch
from sync_counter import count_host_syncs

from mmdet_lossplus.losses import GHMC, GHMR, APLoss


def _cls(seed=0, n=3000, c=8):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g) * 2
    target = torch.randint(0, c + 1, (n, ), generator=g)
    weight = (torch.rand(n, generator=g) > 0.1).float()
    return pred, target, weight


def _step(loss, pred, *args):
    x = pred.clone().requires_grad_()
    loss(x, *args).backward()


@pytest.mark.parametrize('weights', ['none', 'anchor', 'logit'])
def test_ghmc_makes_no_host_round_trip(weights):
    pred, target, weight = _cls()
    args = {
        'none': (target, ),
        'anchor': (target, weight),
        'logit': (target, weight[:, None].expand_as(pred))
    }[weights]
    loss = GHMC(bins=30, momentum=0.75)
    loss.select_rows = False  # the accelerator path
    assert count_host_syncs(lambda: _step(loss, pred, *args)) == {}
    # the CPU path selects rows: nonzero calls, nothing read back else
    loss.select_rows = True
    cpu = count_host_syncs(lambda: _step(loss, pred, *args))
    assert set(cpu) <= {'aten::nonzero'}


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


def test_ghmr_makes_no_host_round_trip():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(500, 4, generator=g)
    target = torch.randn(500, 4, generator=g)
    weight = (torch.rand(500, 1, generator=g) > 0.5).float().expand(500, 4)
    loss = GHMR(bins=10, momentum=0.7)
    assert count_host_syncs(lambda: _step(loss, pred, target, weight)) == {}


def test_aploss_makes_one_host_round_trip():
    pred, target, weight = _cls()
    counts = count_host_syncs(lambda: _step(APLoss(), pred, target, weight))
    assert counts == {'Tensor.tolist': 1}


def test_the_counter_sees_round_trips():
    # negative controls: what the counter must catch
    t = torch.tensor([0, 1, 2])
    assert count_host_syncs(lambda: t.nonzero()) == {'aten::nonzero': 1}
    assert count_host_syncs(lambda: t.sum().item()) == {
        'aten::_local_scalar_dense': 1
    }
    assert count_host_syncs(lambda: bool(t.any())) == {
        'aten::_local_scalar_dense': 1
    }
    assert count_host_syncs(lambda: t[t > 0]) == {'aten::nonzero': 1}
    assert count_host_syncs(lambda: t.tolist()) == {'Tensor.tolist': 1}


def test_ghm_counting_avoids_bincount_off_cpu():
    # bincount sizes its output from the largest index on the host on
    # CUDA; the other path adds into fixed slots (checked on 'meta')
    from mmdet_lossplus.functional.ghm import ghm_bin_counts
    idx = torch.randint(0, 11, (1000, ), dtype=torch.int32)
    out = ghm_bin_counts(idx.to('meta'), 10)
    assert out.device.type == 'meta' and out.shape == (10, )


@pytest.mark.parametrize('n', [0, 5, 16, 1001])
def test_fixed_slot_counting_equals_bincount(n):
    from mmdet_lossplus.functional.ghm import ghm_bin_counts
    g = torch.Generator().manual_seed(n)
    idx = torch.randint(0, 31, (n, ), generator=g, dtype=torch.int32)
    idx[:n // 2] = 3  # one crowded bin
    want = torch.bincount(idx.long(), minlength=31)[:30].double()
    assert torch.equal(ghm_bin_counts(idx, 30, fixed_slots=False), want)
    assert torch.equal(ghm_bin_counts(idx, 30, fixed_slots=True), want)
