"""tools/dist_train.sh as two "nodes" on this machine: NNODES=2,
NODE_RANK=0/1, MASTER_ADDR=127.0.0.1, one process per node (gloo)."""
import sys

from conftest import (DEMO_CONFIG, TINY_OPTIONS, free_port, read_scalars,
                      run_together)


def test_two_nodes_train_a_few_iterations(tmp_path, tiny_data):
    port = free_port()
    work_dir = str(tmp_path / 'two_nodes')
    command = [
        'bash', 'tools/dist_train.sh', DEMO_CONFIG, '1', '--work-dir',
        work_dir, '--data-root', tiny_data, '--cfg-options'
    ] + TINY_OPTIONS
    outputs = run_together([command] * 2, [
        dict(
            NNODES='2',
            NODE_RANK=str(node),
            MASTER_ADDR='127.0.0.1',
            PORT=str(port),
            PYTHON=sys.executable) for node in (0, 1)
    ])
    losses = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2, 3, 4]
    # one world of 2 ranks across the 2 "nodes" (mmengine's env log)
    assert 'Distributed training: True' in outputs[0]
    assert 'GPU number: 2' in outputs[0]
