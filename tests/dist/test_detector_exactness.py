"""A whole RetinaNet step: 2 gloo ranks x 2 images == 1 process x 4 images
(logged losses and DDP-averaged parameter gradients), for focal + L1 with
our head's global positive count, our GHM and our AP-loss."""
import os.path as osp

import pytest
from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'detector_worker.py')


@pytest.mark.parametrize(
    'case', ['focal', 'focal_no_gt', 'uneven', 'ghm', 'aploss', 'angle'])
def test_two_ranks_equal_one_process_with_twice_the_batch(case):
    proc = run_torchrun([WORKER, case], timeout=400)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout


def test_negative_control_local_positive_count_does_not_match():
    # mmdet's per-rank normaliser, rank 1 without ground truth
    proc = run_torchrun([WORKER, 'control'], timeout=400)
    assert 'rank 0 MISMATCH as expected' in proc.stdout
    assert 'rank 1 MISMATCH as expected' in proc.stdout
