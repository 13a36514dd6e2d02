"""The merge-sort tree of prefix step sums against the direct O(Q*R) sum."""
import pytest
import torch

from mmdet_lossplus.functional.prefix_ranking import prefix_step_sums
from mmdet_lossplus.functional.ranking import step_h


@pytest.mark.parametrize('delta', [0.0, 0.5, 1.0])
@pytest.mark.parametrize('above', [True, False])
@pytest.mark.parametrize('seed', range(8))
def test_matches_direct_sum(delta, above, seed):
    g = torch.Generator().manual_seed(seed)
    r = [1, 2, 3, 7, 8, 9, 33, 64][seed]
    q = 17
    scores = torch.randn(r, generator=g, dtype=torch.float64)
    if seed % 2:  # exact ties, also at +-delta
        scores = torch.round(scores * 4) / 4
    queries = torch.cat(
        [scores, torch.randn(q, generator=g, dtype=torch.float64)])
    if seed % 2:
        queries = torch.round(queries * 4) / 4
    weights = torch.rand(r, 3, generator=g, dtype=torch.float64)
    prefix = torch.randint(0, r + 1, (queries.numel(), ), generator=g)
    got = prefix_step_sums(scores, weights, prefix, queries, delta, above)
    diff = scores[None, :] - queries[:, None]
    h = step_h(diff if above else -diff, delta)
    inside = torch.arange(r)[None, :] < prefix[:, None]
    want = (h * inside) @ weights
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_empty_inputs():
    w = torch.ones(0, 2, dtype=torch.float64)
    out = prefix_step_sums(
        torch.zeros(0,
                    dtype=torch.float64), w, torch.zeros(3, dtype=torch.long),
        torch.zeros(3, dtype=torch.float64), 0.5, True)
    assert out.shape == (3, 2) and (out == 0).all()
