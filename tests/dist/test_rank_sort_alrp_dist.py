"""Rank & Sort and aLRP across 2 real gloo processes: global ranking is
exact (values, logit and localisation gradients), local ranking is not,
nothing hangs when a rank has no positives or no rows, aLRP's
self-balancing weight is the union's and identical on every rank."""
import os.path as osp

import pytest
from conftest import run_torchrun

WORKER = osp.join(
    osp.dirname(osp.abspath(__file__)), 'rank_sort_alrp_worker.py')


@pytest.mark.parametrize('loss', ['ranksort', 'alrp'])
@pytest.mark.parametrize('case',
                         ['split', 'nopos', 'empty', 'allneg', 'shifted'])
def test_global_ranking_equals_one_process_on_the_union(loss, case):
    proc = run_torchrun([WORKER, loss, case], timeout=300)
    assert f'rank 0 OK {loss} {case}' in proc.stdout, proc.stdout[-3000:] + \
        proc.stderr[-3000:]
    assert f'rank 1 OK {loss} {case}' in proc.stdout
