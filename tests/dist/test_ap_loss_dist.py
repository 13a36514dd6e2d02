"""AP-loss across 2 real gloo processes: global ranking is exact, local
ranking is not, nothing hangs when a rank has no positives or no rows."""
import os.path as osp
import socket

import pytest

from conftest import run_py

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'ap_worker.py')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    'case', ['split', 'nopos', 'empty', 'allneg', 'shifted', 'nan'])
def test_global_ranking_equals_one_process_on_the_union(case):
    proc = run_py([
        '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
        f'--master_port={_free_port()}', WORKER, case
    ],
                  timeout=300)
    assert f'rank 0 OK {case}' in proc.stdout
    assert f'rank 1 OK {case}' in proc.stdout
