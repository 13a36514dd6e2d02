"""The collective recorder (run around every distributed worker by
conftest.run_torchrun) catches ranks whose collectives differ."""
import os.path as osp

from conftest import RECORDER, free_port, run_py

HERE = osp.dirname(osp.abspath(__file__))


def test_a_difference_between_ranks_is_reported():
    proc = run_py([
        '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
        f'--master_port={free_port()}', RECORDER,
        osp.join(HERE, 'mismatch_worker.py')
    ],
                  timeout=300,
                  check=False)
    assert proc.returncode != 0
    assert 'COLLECTIVES DIFFER at call 0' in proc.stdout, proc.stdout
    assert "(2,)" in proc.stdout and "(2, 1)" in proc.stdout


def test_first_difference():
    import sys
    sys.path.insert(0, HERE)
    from collective_recorder import first_difference
    same = [[('all_reduce', 1)], [('all_reduce', 1)]]
    assert first_difference(same) is None
    assert first_difference([[('a', 1), ('b', 2)],
                             [('a', 1)]]) == (1, 1, '(none)', ('b', 2))
