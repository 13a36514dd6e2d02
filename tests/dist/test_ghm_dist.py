"""GHM across 2 real gloo processes: one global histogram, exact values and
gradients, identical EMA, no hang when a rank has nothing."""
import os.path as osp

import pytest

from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'ghm_worker.py')


@pytest.mark.parametrize('case', ['split', 'empty', 'ignored'])
def test_two_ranks_equal_one_process_on_the_union(case):
    proc = run_torchrun([WORKER, case], timeout=300)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout
