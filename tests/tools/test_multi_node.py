"""tools/dist_train.sh as two "nodes" on this machine: NNODES=2,
NODE_RANK=0/1, MASTER_ADDR=127.0.0.1, one process per node (gloo)."""
import os
import subprocess
import sys

from conftest import DEMO_CONFIG, ROOT, TINY_OPTIONS, free_port, read_scalars


def test_two_nodes_train_a_few_iterations(tmp_path, tiny_data):
    port = free_port()
    work_dir = str(tmp_path / 'two_nodes')
    procs = []
    for node in (0, 1):
        env = dict(
            os.environ,
            NNODES='2',
            NODE_RANK=str(node),
            MASTER_ADDR='127.0.0.1',
            PORT=str(port),
            PYTHON=sys.executable,
            OMP_NUM_THREADS='1')
        procs.append(
            subprocess.Popen(
                [
                    'bash', 'tools/dist_train.sh', DEMO_CONFIG, '1',
                    '--work-dir', work_dir, '--data-root', tiny_data,
                    '--cfg-options'
                ] + TINY_OPTIONS,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for node, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f'node {node}:\n{out[-4000:]}'
    losses = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2, 3, 4]
    # one world of 2 ranks across the 2 "nodes" (mmengine's env log)
    assert 'Distributed training: True' in outputs[0]
    assert 'GPU number: 2' in outputs[0]
