"""RankedNegatives (functional/ranking.py): the false-positive counts and
the negatives' weighted sums against a dense evaluation of the step, in
one slice and in many (``CHUNK``), with int16 and int32 intervals."""
import pytest
import torch
from ap_loss_reference import reference_ap_loss
from rank_sort_alrp_reference import alrp_reference, rank_sort_reference

from mmdet_lossplus.functional import ranking
from mmdet_lossplus.functional.alrp import alrp_with_update
from mmdet_lossplus.functional.ap_loss import ap_loss_with_update
from mmdet_lossplus.functional.rank_sort import rank_sort_with_update
from mmdet_lossplus.functional.ranking import RankedNegatives, step_h


def _dense(pos, flat, labels, delta, coef):
    """fp and the negatives' sums from the [P, M] matrix of H, pruning by
    the definition (H = 0 below the threshold is what pruning assumes)."""
    kept = ranking.kept_negatives(flat, labels, pos.min(), delta)
    h = step_h(flat.double()[None, :] - pos[:, None], delta) * kept
    fp = h.sum(1)
    sums = (coef[:, None] * h).sum(0)
    return fp, sums


@pytest.mark.parametrize('delta', [0.0, 0.5])
@pytest.mark.parametrize('num_pos', [5, 16400])
@pytest.mark.parametrize('chunk', [7, 1 << 20])
def test_ranked_negatives_match_the_dense_sums(monkeypatch, delta, num_pos,
                                               chunk):
    monkeypatch.setattr(ranking, 'CHUNK', chunk)
    g = torch.Generator().manual_seed(num_pos)
    m = 120
    flat = torch.round(torch.randn(m, generator=g) * 4) / 4  # ties, edges
    labels = torch.randint(-1, 1, (m, ), generator=g)  # negatives, ignored
    labels[:3] = 1  # positives among the entries are never placed
    pos = torch.round(
        torch.randn(num_pos, generator=g, dtype=torch.float64) * 4) / 4
    ranked = RankedNegatives(pos, flat, labels, delta)
    bins = (2 if delta > 0 else 1) * num_pos + 1
    assert ranked.bucket.dtype == (
        torch.int16 if bins < 2**15 else torch.int32)
    coef = torch.rand(num_pos, generator=g, dtype=torch.float64)
    fp, sums = _dense(ranked.pos_sorted, flat, labels, delta,
                      coef[ranked.order])
    torch.testing.assert_close(ranked.fp, fp, atol=1e-9, rtol=0)
    out = torch.full((m, ), 7.0)  # every entry is written
    ranked.write_negative_sums(coef[ranked.order], out)
    torch.testing.assert_close(out, sums.float(), atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize('delta', [0.0, 0.5, 1.0])
@pytest.mark.parametrize('seed', range(3))
def test_engines_in_slices_of_seven_match_the_references(
        monkeypatch, delta, seed):
    monkeypatch.setattr(ranking, 'CHUNK', 7)
    g = torch.Generator().manual_seed(seed)
    n = 60 + 11 * seed
    scores = torch.round(
        torch.randn(n, generator=g, dtype=torch.float64) * 6) / 4
    u = torch.rand(n, generator=g)
    labels = torch.where(u < 0.25, 1, torch.where(u < 0.35, -1, 0))
    targets = torch.rand(n, generator=g, dtype=torch.float64) * 0.9 + 0.05
    loc = torch.rand(n, generator=g, dtype=torch.float64)
    pos = labels == 1
    if delta > 0:
        loss, update = reference_ap_loss(scores.tolist(), labels.tolist(),
                                         delta)
        out = ap_loss_with_update(scores, labels, delta)
        assert out.loss.item() == pytest.approx(loss, abs=1e-9)
        torch.testing.assert_close(
            out.update,
            torch.tensor(update, dtype=torch.float64),
            atol=1e-9,
            rtol=0)
    out = rank_sort_with_update(scores, labels, targets[pos], delta)
    r_loss, s_loss, r_upd, _ = rank_sort_reference(scores, labels, targets,
                                                   delta)
    assert out.ranking_loss.item() == pytest.approx(r_loss, abs=1e-9)
    assert out.sorting_loss.item() == pytest.approx(s_loss, abs=1e-9)
    torch.testing.assert_close(out.ranking_update, r_upd, atol=1e-9, rtol=0)
    out = alrp_with_update(scores, labels, loc[pos], delta)
    c_loss, _, upd, _ = alrp_reference(scores, labels, loc[pos], delta)
    assert out.cls_loss.item() == pytest.approx(c_loss, abs=1e-9)
    torch.testing.assert_close(out.update, upd, atol=1e-9, rtol=0)
