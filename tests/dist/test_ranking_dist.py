"""RankingStatsHook across 2 real gloo processes."""
import os.path as osp

import pytest
from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'ranking_worker.py')


@pytest.mark.parametrize('case', ['focal', 'no_pos', 'aploss'])
def test_global_and_per_rank_rankings(case):
    proc = run_torchrun([WORKER, case], timeout=300)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout
