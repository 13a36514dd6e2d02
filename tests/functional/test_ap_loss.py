"""The sort-based AP-loss engine against the O(P*N) transcription."""
import pytest
import torch
from ap_loss_reference import reference_ap_loss

from mmdet_lossplus.functional.ap_loss import ap_loss_with_update
from mmdet_lossplus.functional.ranking import (step_count_above, step_h,
                                               weighted_step_sum_above)


def _random_case(seed, n, p_pos, p_ign, scale, ties):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=g, dtype=torch.float64) * scale
    if ties:
        # Quantise so that many scores coincide exactly, also at +-delta.
        scores = torch.round(scores * 4) / 4
    u = torch.rand(n, generator=g)
    labels = torch.where(u < p_pos, 1, 0)
    labels = torch.where((u >= p_pos) & (u < p_pos + p_ign), -1, labels)
    return scores, labels


def _check(scores, labels, delta):
    ref_loss, ref_update = reference_ap_loss(scores.tolist(), labels.tolist(),
                                             delta)
    out = ap_loss_with_update(scores, labels, delta)
    assert out.loss.item() == pytest.approx(ref_loss, abs=1e-9)
    assert torch.allclose(
        out.update,
        torch.tensor(ref_update, dtype=torch.float64),
        atol=1e-9,
        rtol=0)
    return out


@pytest.mark.parametrize('delta', [0.25, 0.5, 1.0, 2.0])
@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('ties', [False, True])
def test_matches_reference_on_random_cases(delta, seed, ties):
    n = 20 + 17 * seed
    scores, labels = _random_case(seed, n, 0.2, 0.15, 1.5, ties)
    _check(scores, labels, delta)


@pytest.mark.parametrize(
    'labels',
    [
        [0, 0, 0, 0, 0],  # no positive
        [1, 1, 1, 1],  # no negative
        [0, 1, 0, 0, 0, 0],  # a single positive
        [-1, -1, 1, -1, 0],  # mostly ignored
        [-1, -1, -1],  # everything ignored
    ])
def test_degenerate_batches(labels):
    labels = torch.tensor(labels)
    scores = torch.linspace(-1, 1, len(labels), dtype=torch.float64)
    out = _check(scores, labels, 1.0)
    assert out.update.sum().item() == pytest.approx(0, abs=1e-12)


def test_extreme_logits():
    scores = torch.tensor([-1e4, 1e4, 50.0, -50.0, 0.0, 1e4, -1e4],
                          dtype=torch.float64)
    labels = torch.tensor([1, 0, 1, 0, 0, 1, 0])
    out = _check(scores, labels, 1.0)
    assert torch.isfinite(out.update).all()


def test_perfect_ranking_gives_zero_loss_and_zero_update():
    scores = torch.tensor([5.0, 4.0, 3.0, 0.0, -1.0, -2.0],
                          dtype=torch.float64)
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    out = ap_loss_with_update(scores, labels, 1.0)  # gaps >= 2 delta
    assert out.loss.item() == 0
    assert torch.count_nonzero(out.update) == 0


def test_hand_computed_case():
    # delta = 1; positives at 0 and 2, negative at 1.
    # H(1 - 0) = 1, H(1 - 2) = 0; H(2 - 0) = 1 (pos k=2 above pos 0).
    # pos@2: rank 1, fp 0 -> prec 1.   pos@0: rank 2, fp 1 -> prec 2/3.
    # interp: pos@0 -> max over s <= 0 -> 2/3; pos@2 -> max(1, 2/3) = 1.
    # loss = 1 - (1 + 2/3)/2 = 1/6.
    # updates: pos@0 -(1/3)/2 = -1/6, pos@2 0;
    # neg: (1/2) * [w * H(1-0)/(2+1) + w * H(1-2)/1] = (1/2)(1/3) = 1/6.
    out = ap_loss_with_update(
        torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64),
        torch.tensor([1, 0, 1]), 1.0)
    assert out.loss.item() == pytest.approx(1 / 6)
    assert out.update.tolist() == pytest.approx([-1 / 6, 1 / 6, 0.0])


def test_update_sums_to_zero_and_pruned_negatives_get_nothing():
    scores, labels = _random_case(3, 500, 0.05, 0.1, 3.0, False)
    out = ap_loss_with_update(scores, labels, 0.5)
    assert out.update.sum().item() == pytest.approx(0, abs=1e-12)
    min_pos = scores[labels == 1].min()
    far = (labels == 0) & (scores <= min_pos - 0.5)
    assert far.any() and (out.update[far] == 0).all()


def test_step_sums_match_brute_force():
    g = torch.Generator().manual_seed(0)
    ref = torch.sort(torch.randn(200, generator=g, dtype=torch.float64))[0]
    q = torch.randn(50, generator=g, dtype=torch.float64)
    w = torch.rand(200, generator=g, dtype=torch.float64)
    for delta in (0.1, 1.0, 3.0):
        brute = step_h(ref[None, :] - q[:, None], delta).sum(1)
        assert torch.allclose(
            step_count_above(ref, q, delta), brute, atol=1e-10)
        brute_w = (w[None, :] *
                   step_h(ref[None, :] - q[:, None], delta)).sum(1)
        assert torch.allclose(
            weighted_step_sum_above(ref, w, q, delta), brute_w, atol=1e-10)


@pytest.mark.parametrize('delta', [0, -1, float('inf'), True])
def test_bad_delta(delta):
    with pytest.raises((ValueError, TypeError), match='delta'):
        ap_loss_with_update(torch.zeros(2), torch.tensor([1, 0]), delta)


def test_step_sums_with_ties_and_the_hard_step():
    """Scores on a grid (many ties, edges exactly on references) and the
    hard step, where H(0) = 1."""
    g = torch.Generator().manual_seed(1)
    q = torch.round(torch.randn(40, generator=g, dtype=torch.float64) * 4) / 4
    ref = torch.sort(
        torch.round(torch.randn(300, generator=g, dtype=torch.float64) * 8) /
        4)[0]
    w = torch.rand(300, generator=g, dtype=torch.float64)
    for delta in (0.0, 0.25, 1.0):
        h = step_h(ref[None, :] - q[:, None], delta)
        assert torch.allclose(
            step_count_above(ref, q, delta), h.sum(1), atol=1e-10)
        assert torch.allclose(
            weighted_step_sum_above(ref, w, q, delta), (w * h).sum(1),
            atol=1e-10)
