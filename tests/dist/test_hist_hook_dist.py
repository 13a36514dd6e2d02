"""GradientHistogramHook across 2 real gloo processes."""
import os.path as osp

import pytest
from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'hist_hook_worker.py')


@pytest.mark.parametrize('case', ['focal', 'focal_no_pos', 'ghm'])
def test_histograms_are_summed_over_ranks(case, tmp_path):
    proc = run_torchrun([WORKER, str(tmp_path), case], timeout=300)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout
