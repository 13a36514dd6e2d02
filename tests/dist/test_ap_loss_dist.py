"""AP-loss across 2 real gloo processes: global ranking is exact, local
ranking is not, nothing hangs when a rank has no positives or no rows."""
import os.path as osp

import pytest

from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'ap_worker.py')


@pytest.mark.parametrize(
    'case', ['split', 'nopos', 'empty', 'allneg', 'shifted', 'nan'])
def test_global_ranking_equals_one_process_on_the_union(case):
    proc = run_torchrun([WORKER, case], timeout=300)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout
