"""GHM across 2 real gloo processes: one global histogram, exact values and
gradients, identical EMA, no hang when a rank has nothing."""
import os.path as osp
import socket

import pytest

from conftest import run_py

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'ghm_worker.py')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('case', ['split', 'empty', 'ignored'])
def test_two_ranks_equal_one_process_on_the_union(case):
    proc = run_py([
        '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
        f'--master_port={_free_port()}', WORKER, case
    ],
                  timeout=300)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout
