"""A rank that raises or stalls makes the job fail with the error within a
bounded time (torchrun stops the other ranks; the collective timeout is
configurable)."""
import os.path as osp
import time

import pytest
from conftest import free_port, run_py

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'failure_worker.py')


def _run_worker(case):
    return run_py([
        '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
        f'--master_port={free_port()}', WORKER, case
    ],
                  timeout=110,
                  check=False)


@pytest.mark.parametrize(
    'case,message',
    [
        ('raise', 'rank 1 failed on purpose'),
        ('stall', 'Timed out waiting 5000ms'),  # the configured 5 s
    ])
def test_job_fails_in_bounded_time(case, message):
    start = time.monotonic()
    proc = _run_worker(case)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert 'finished' not in proc.stdout
    # rank 1 of 'stall' sleeps 120 s: ending well before proves the bound
    assert elapsed < 90, elapsed


def test_finished_job_ends_cleanly_through_the_shutdown():
    proc = _run_worker('finish')
    assert proc.returncode == 0, proc.stderr[-2000:]
    for rank in (0, 1):
        assert f'rank {rank} finished' in proc.stdout
        assert f'rank {rank} unflushed line' in proc.stdout
    assert 'not reached' not in proc.stdout
