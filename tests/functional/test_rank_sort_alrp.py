"""Rank & Sort and aLRP engines against the O(P*N) transcriptions in
``tests/rank_sort_alrp_reference.py`` (float64, to 1e-9), plus the
identities the papers prove."""
import pytest
import torch
from rank_sort_alrp_reference import alrp_reference, rank_sort_reference

from mmdet_lossplus.functional.alrp import alrp_with_update
from mmdet_lossplus.functional.rank_sort import rank_sort_with_update

ATOL = 1e-9


def _case(seed, n, p_pos, p_ign, scale, ties, delta):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=g, dtype=torch.float64) * scale
    if ties:
        # quantised to multiples of delta / 2: many exact ties, also at
        # exactly +-delta (and H(0) ties for the hard step)
        step = delta / 2 if delta > 0 else 0.25
        scores = torch.round(scores / step) * step
    u = torch.rand(n, generator=g)
    labels = torch.where(u < p_pos, 1, 0)
    labels = torch.where((u >= p_pos) & (u < p_pos + p_ign), -1, labels)
    targets = torch.rand(n, generator=g, dtype=torch.float64) * 0.98 + 0.02
    if ties:  # equal IoU targets too
        targets = torch.round(targets * 4).clamp_min(1) / 4
    loc = torch.rand(n, generator=g, dtype=torch.float64) * 2
    return scores, labels, targets, loc


def check_rank_sort(scores, labels, targets, delta):
    pos = labels == 1
    out = rank_sort_with_update(scores, labels, targets[pos], delta)
    r_loss, s_loss, r_upd, s_upd = rank_sort_reference(scores, labels, targets,
                                                       delta)
    assert out.ranking_loss.item() == pytest.approx(r_loss, abs=ATOL)
    assert out.sorting_loss.item() == pytest.approx(s_loss, abs=ATOL)
    torch.testing.assert_close(out.ranking_update, r_upd, atol=ATOL, rtol=0)
    torch.testing.assert_close(
        out.sorting_update, s_upd[pos], atol=ATOL, rtol=0)
    assert (s_upd[~pos] == 0).all()
    return out


def check_alrp(scores, labels, loc, delta):
    pos = labels == 1
    out = alrp_with_update(scores, labels, loc[pos], delta)
    c_loss, l_loss, upd, loc_grad = alrp_reference(scores, labels, loc[pos],
                                                   delta)
    assert out.cls_loss.item() == pytest.approx(c_loss, abs=ATOL)
    assert out.loc_loss.item() == pytest.approx(l_loss, abs=ATOL)
    torch.testing.assert_close(out.update, upd, atol=ATOL, rtol=0)
    torch.testing.assert_close(out.loc_weights, loc_grad, atol=ATOL, rtol=0)
    return out


@pytest.mark.parametrize('delta', [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('ties', [False, True])
def test_rank_sort_matches_reference(delta, seed, ties):
    scores, labels, targets, _ = _case(seed, 25 + 19 * seed, 0.25, 0.1, 1.5,
                                       ties, delta)
    out = check_rank_sort(scores, labels, targets, delta)
    total = out.ranking_update.sum() + out.sorting_update.sum()
    assert total.item() == pytest.approx(0, abs=1e-12)
    assert out.sorting_update.sum().item() == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize('delta', [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('ties', [False, True])
def test_alrp_matches_reference(delta, seed, ties):
    scores, labels, _, loc = _case(100 + seed, 25 + 19 * seed, 0.25, 0.1, 1.5,
                                   ties, delta)
    out = check_alrp(scores, labels, loc, delta)
    assert out.update.sum().item() == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    'labels',
    [
        [0, 0, 0, 0, 0],  # no positive
        [1, 1, 1, 1],  # no negative
        [0, 1, 0, 0, 0, 0],  # a single positive
        [-1, -1, 1, -1, 0],  # mostly ignored
        [-1, -1, -1],  # everything ignored
        [1, -1, 0, 1, 0, -1, 1],
    ])
@pytest.mark.parametrize('delta', [0.0, 0.5, 1.0])
def test_degenerate_batches(labels, delta):
    labels = torch.tensor(labels)
    n = len(labels)
    scores = torch.linspace(-1, 1, n, dtype=torch.float64)
    targets = torch.linspace(0.3, 0.9, n, dtype=torch.float64)
    loc = torch.linspace(0.1, 1.5, n, dtype=torch.float64)
    check_rank_sort(scores, labels, targets, delta)
    check_alrp(scores, labels, loc, delta)


@pytest.mark.parametrize('scale', [30.0, 1e3])
def test_extreme_logits(scale):
    scores, labels, targets, loc = _case(7, 80, 0.3, 0.1, scale, False, 0.5)
    scores[0] = 1e6
    scores[1] = -1e6
    check_rank_sort(scores, labels, targets, 0.5)
    check_alrp(scores, labels, loc, 1.0)


def test_ignored_entries_change_nothing():
    scores, labels, targets, loc = _case(3, 60, 0.3, 0.0, 1.0, False, 0.5)
    ignored = labels.clone()
    ignored[::4] = torch.where(labels[::4] == 0, -1, labels[::4])
    kept = ignored != -1
    pos = ignored == 1
    a = rank_sort_with_update(scores, ignored, targets[pos])
    b = rank_sort_with_update(scores[kept], ignored[kept], targets[pos])
    assert a.ranking_loss.item() == pytest.approx(
        b.ranking_loss.item(), abs=1e-12)
    torch.testing.assert_close(a.ranking_update[kept], b.ranking_update)
    assert (a.ranking_update[~kept] == 0).all()
    c = alrp_with_update(scores, ignored, loc[pos])
    d = alrp_with_update(scores[kept], ignored[kept], loc[pos])
    torch.testing.assert_close(c.update[kept], d.update)
    assert (c.update[~kept] == 0).all()


@pytest.mark.parametrize('delta', [0.0, 0.5])
def test_perfect_ranking_and_sorting_is_zero(delta):
    # positives sorted by target, more than 2 delta apart, all negatives
    # more than delta below the lowest positive
    pos_scores = torch.tensor([6.0, 4.5, 3.0, 1.5], dtype=torch.float64)
    targets = torch.tensor([0.9, 0.7, 0.6, 0.2], dtype=torch.float64)
    neg_scores = torch.linspace(-5, 0.4, 30, dtype=torch.float64)
    scores = torch.cat([neg_scores[:10], pos_scores, neg_scores[10:]])
    labels = torch.cat([
        torch.zeros(10, dtype=torch.long),
        torch.ones(4, dtype=torch.long),
        torch.zeros(20, dtype=torch.long)
    ])
    out = rank_sort_with_update(scores, labels, targets, delta)
    assert out.ranking_loss.item() == 0 and out.sorting_loss.item() == 0
    assert (out.ranking_update == 0).all() and (out.sorting_update == 0).all()
    alrp = alrp_with_update(scores, labels, torch.full((4, ), 0.3), delta
                            or 1.0)
    assert alrp.cls_loss.item() == 0 and (alrp.update == 0).all()
    # one missorted pair is an error and sends an update
    swapped = rank_sort_with_update(scores, labels, targets.flip(0), delta)
    assert swapped.sorting_loss.item() > 0
    assert swapped.sorting_update.abs().sum().item() > 0
    check_rank_sort(
        scores, labels,
        torch.cat([neg_scores[:10] * 0,
                   targets.flip(0), neg_scores[10:] * 0]), delta)


def test_float32_scores_give_float32_updates():
    scores, labels, targets, loc = _case(5, 200, 0.2, 0.1, 1.0, False, 0.5)
    pos = labels == 1
    a = rank_sort_with_update(scores.float(), labels, targets[pos].float())
    b = rank_sort_with_update(scores.float().double(), labels, targets[pos])
    assert a.ranking_update.dtype == torch.float32
    torch.testing.assert_close(
        a.ranking_update.double(), b.ranking_update, atol=1e-7, rtol=0)
    c = alrp_with_update(scores.float(), labels, loc[pos].float())
    assert c.update.dtype == torch.float32


def test_invalid_delta():
    scores = torch.zeros(3)
    labels = torch.tensor([1, 0, 0])
    for bad in (-0.1, float('nan'), float('inf'), True, '1'):
        with pytest.raises((ValueError, TypeError), match='delta'):
            rank_sort_with_update(scores, labels, torch.ones(1), bad)
        with pytest.raises((ValueError, TypeError), match='delta'):
            alrp_with_update(scores, labels, torch.ones(1), bad)
