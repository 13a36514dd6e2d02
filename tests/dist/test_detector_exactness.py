"""A whole detector step: 2 gloo ranks x 2 images == 1 process x 4 images
(logged losses and DDP-averaged parameter gradients), for RetinaNet, ATSS
and FCOS with our heads: focal with the global positive count, a rank
without ground truth, an uneven split, our GHM and our AP-loss; aLRP
RetinaNet and RS-ATSS (also with a rank without ground truth); negative
controls with the per-rank normaliser and with per-process ranking."""
import os.path as osp

import pytest
from conftest import run_torchrun

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'detector_worker.py')

CASES = [('retina', c)
         for c in ('focal', 'focal_no_gt', 'uneven', 'ghm', 'aploss', 'angle')]
CASES += [(h, c) for h in ('atss', 'fcos')
          for c in ('focal', 'focal_no_gt', 'uneven', 'ghm', 'aploss')]
# aLRP-RetinaNet and RS-ATSS
CASES += [('retina', 'alrp'), ('retina', 'alrp_no_gt'), ('atss', 'ranksort'),
          ('atss', 'ranksort_no_gt')]


@pytest.mark.parametrize('head,case', CASES)
def test_two_ranks_equal_one_process_with_twice_the_batch(head, case):
    proc = run_torchrun([WORKER, case, head], timeout=400)
    assert f'rank 0 OK {case}' in proc.stdout, proc.stdout[-3000:]
    assert f'rank 1 OK {case}' in proc.stdout
    # the worst relative gradient error, for the record
    print(head, case, proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('head', ['retina', 'atss', 'fcos'])
def test_negative_control_local_positive_count_does_not_match(head):
    # mmdet's per-rank normaliser, rank 1 without ground truth
    proc = run_torchrun([WORKER, 'control', head], timeout=400)
    assert 'rank 0 MISMATCH as expected' in proc.stdout, proc.stdout[-3000:]
    assert 'rank 1 MISMATCH as expected' in proc.stdout


@pytest.mark.parametrize('head,case', [('retina', 'alrp_control'),
                                       ('atss', 'ranksort_control')])
def test_negative_control_per_process_ranking_does_not_match(head, case):
    # the ranking losses and the head in scope='local', rank 1 without GT
    proc = run_torchrun([WORKER, case, head], timeout=400)
    assert 'rank 0 MISMATCH as expected' in proc.stdout, proc.stdout[-3000:]
    assert 'rank 1 MISMATCH as expected' in proc.stdout


@pytest.mark.parametrize('head,case', [('retina', 'aploss'), ('retina', 'ghm'),
                                       ('atss', 'ranksort_no_gt')])
def test_four_ranks_of_one_image_equal_one_process_of_four(head, case):
    proc = run_torchrun([WORKER, case, head],
                        nproc=4,
                        timeout=600,
                        env={'LOSSPLUS_IMAGES_PER_RANK': '1'})
    for rank in range(4):
        assert f'rank {rank} OK {case}' in proc.stdout, proc.stdout[-3000:]
