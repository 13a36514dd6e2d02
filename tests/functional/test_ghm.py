"""GHM maths: against plain transcriptions and hand-computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdet_lossplus.functional.ghm import (asl1_gradient_norm, asl1_loss,
                                           ghm_bin_counts, ghm_bin_index,
                                           ghm_density, ghm_edges,
                                           ghm_ema_update, ghm_weights,
                                           ghmc_gradient_norm)


def loop_bin_index(g, valid, edges):
    """Plain transcription of mmdet's rule: edges[i] <= g < edges[i+1]."""
    bins = len(edges) - 1
    out = torch.full_like(g, bins, dtype=torch.long)
    for k in range(g.numel()):
        if not valid.view(-1)[k]:
            continue
        for i in range(bins):
            if edges[i] <= g.view(-1)[k] < edges[i + 1]:
                out.view(-1)[k] = i
    return out


def test_bin_index_matches_loop_including_edges():
    torch.manual_seed(0)
    edges = ghm_edges(10, 1.0 + 1e-6)
    g = torch.cat([torch.rand(300), edges[:-1], torch.tensor([1.0, 0.0])])
    valid = torch.rand(g.shape) > 0.2
    assert torch.equal(
        ghm_bin_index(g, valid, edges), loop_bin_index(g, valid, edges))
    # g == 1 falls in the last bin, not outside.
    one = ghm_bin_index(torch.tensor([1.0]), torch.tensor([True]), edges)
    assert one.item() == 9


def test_non_finite_norms_are_dropped():
    edges = ghm_edges(4, 1.0 + 1e-6)
    g = torch.tensor([float('nan'), float('inf'), 0.3])
    idx = ghm_bin_index(g, torch.ones(3, dtype=torch.bool), edges)
    assert idx.tolist() == [4, 4, 1]


def test_counts_weights_hand_computed():
    # 6 valid samples: bins 0,0,0,1,3,3 of M=4 -> counts 3,1,0,2, n=3.
    idx = torch.tensor([0, 0, 0, 1, 3, 3, 4])  # the last one is invalid
    counts = ghm_bin_counts(idx, 4)
    assert counts.tolist() == [3, 1, 0, 2]
    w = ghm_weights(idx, counts, counts, torch.tensor(6.0))
    expected = [6 / (3 * 3)] * 3 + [6 / (1 * 3)] + [6 / (2 * 3)] * 2 + [0]
    assert w.tolist() == pytest.approx(expected)
    # sum of weights over valid samples = tot (each non-empty bin gets
    # tot / n in total).
    assert w.sum().item() == pytest.approx(6.0)


def test_ghmc_with_one_bin_is_mean_bce_with_gradients():
    torch.manual_seed(1)
    x = torch.randn(50, 3, requires_grad=True)
    y = (torch.rand(50, 3) > 0.7).float()
    edges = ghm_edges(1, 1.0 + 1e-6)
    valid = torch.ones_like(y, dtype=torch.bool)
    idx = ghm_bin_index(ghmc_gradient_norm(x, y), valid, edges)
    counts = ghm_bin_counts(idx, 1)
    tot = torch.tensor(150.0)
    w = ghm_weights(idx, counts, counts, tot)
    ours = (w * F.binary_cross_entropy_with_logits(
        x, y, reduction='none')).sum() / tot
    ref_x = x.detach().clone().requires_grad_()
    ref = F.binary_cross_entropy_with_logits(ref_x, y)
    ours.backward()
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(x.grad, ref_x.grad, rtol=1e-6, atol=1e-9)


def test_ema_updates_non_empty_bins_only_and_respects_accept():
    acc = torch.tensor([4.0, 2.0, 0.0])
    steps = torch.tensor([1.0, 1.0, 0.0])
    counts = torch.tensor([8.0, 0.0, 2.0], dtype=torch.float64)
    new_acc, new_steps = ghm_ema_update(acc, steps, counts, 0.75,
                                        torch.tensor(True))
    assert new_acc.tolist() == pytest.approx([0.75 * 4 + 0.25 * 8, 2.0, 0.5])
    assert new_steps.tolist() == [2.0, 1.0, 1.0]
    kept_acc, kept_steps = ghm_ema_update(acc, steps, counts, 0.75,
                                          torch.tensor(False))
    assert torch.equal(kept_acc, acc) and torch.equal(kept_steps, steps)


def test_bias_correction_recovers_counts_after_first_update():
    counts = torch.tensor([5.0, 0.0, 7.0], dtype=torch.float64)
    acc, steps = ghm_ema_update(
        torch.zeros(3), torch.zeros(3), counts, 0.9, torch.tensor(True))
    corrected = ghm_density(counts, acc, steps, 0.9, bias_correction=True)
    raw = ghm_density(counts, acc, steps, 0.9, bias_correction=False)
    assert corrected[[0, 2]].tolist() == pytest.approx([5.0, 7.0])
    assert raw[[0, 2]].tolist() == pytest.approx([0.5, 0.7])


@pytest.mark.parametrize('d', [0.0, 1e-4, 0.01, 0.3, -2.0, 50.0])
def test_asl1_values_and_gradient_norm(d):
    mu = 0.02
    t = torch.tensor([d], dtype=torch.float64, requires_grad=True)
    loss = asl1_loss(t, mu)
    assert loss.item() == pytest.approx(
        math.sqrt(d * d + mu * mu) - mu, abs=1e-15)
    loss.sum().backward()
    # g is |dL/dd| by definition.
    assert asl1_gradient_norm(t, mu).item() == pytest.approx(
        abs(t.grad.item()), rel=1e-6, abs=1e-12)  # g is float32


def test_asl1_half_is_computed_in_float32():
    d = torch.tensor([0.001, 3.0], dtype=torch.float16)
    assert asl1_loss(d).dtype == torch.float32
    assert torch.allclose(asl1_loss(d), asl1_loss(d.float()))
