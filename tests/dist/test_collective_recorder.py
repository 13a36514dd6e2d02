"""The collective recorder (run around every distributed worker by
conftest.run_torchrun) catches ranks whose collectives differ."""
import os.path as osp

from collective_recorder import compare_logs, first_difference
from conftest import RECORDER, free_port, run_py

HERE = osp.dirname(osp.abspath(__file__))


def test_a_difference_between_ranks_is_reported(tmp_path):
    run_py([
        '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
        f'--master_port={free_port()}', RECORDER,
        osp.join(HERE, 'mismatch_worker.py')
    ],
           timeout=300,
           env={'LOSSPLUS_COLLECTIVE_LOG': str(tmp_path)})
    problem = compare_logs(str(tmp_path), 2)
    assert problem is not None and 'COLLECTIVES DIFFER at call 0' in problem
    assert '[2]' in problem and '[2, 1]' in problem


def test_first_difference():
    same = [[['all_reduce', 1]], [['all_reduce', 1]]]
    assert first_difference(same) is None
    assert first_difference([[['a', 1], ['b', 2]],
                             [['a', 1]]]) == (1, 1, '(none)', ['b', 2])


def test_a_missing_log_is_reported(tmp_path):
    assert compare_logs(str(tmp_path), 2) is None  # no log: not checked
    (tmp_path / 'rank1.json').write_text('[]')
    assert compare_logs(str(tmp_path), 2) == 'rank 0 wrote no collective log'
