"""LossStateCheckHook across 2 real gloo processes."""
import os.path as osp

import pytest
from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'state_check_worker.py')


@pytest.mark.parametrize('case,expected', [('global', 'CONSISTENT'),
                                           ('local', 'DIVERGED'),
                                           ('perturbed', 'DIVERGED'),
                                           ('nan', 'CORRUPTED'),
                                           ('nan_both', 'CORRUPTED')])
def test_state_check(case, expected):
    proc = run_torchrun([WORKER, case], timeout=300)
    for rank in (0, 1):
        assert f'rank {rank} {expected}' in proc.stdout, proc.stdout
    if expected == 'DIVERGED':
        assert 'loss state differs across ranks at iteration 3' in \
            proc.stdout
        assert 'loss_cls' in proc.stdout
    elif expected == 'CORRUPTED':
        assert 'loss state is corrupted at iteration 3' in proc.stdout
    else:
        assert 'deviation 0.0' in proc.stdout
