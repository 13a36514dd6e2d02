"""The slurm and mpi launchers on CPU: two processes started by hand with
the variables srun / mpirun would set (neither is installed here) train
one 2-rank job through tools/train.py, like torchrun's."""
import os
import subprocess
import sys

import pytest
from conftest import DEMO_CONFIG, ROOT, TINY_OPTIONS, free_port, read_scalars


def _launcher_env(launcher, rank, port):
    if launcher == 'slurm':
        # MASTER_ADDR set: the first host of SLURM_NODELIST would come from
        # scontrol, which needs a slurm installation
        return dict(
            SLURM_PROCID=str(rank),
            SLURM_NTASKS='2',
            SLURM_LOCALID=str(rank),
            SLURM_NODELIST='localhost',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port))
    return dict(
        OMPI_COMM_WORLD_RANK=str(rank),
        OMPI_COMM_WORLD_SIZE='2',
        OMPI_COMM_WORLD_LOCAL_RANK=str(rank),
        MASTER_PORT=str(port))  # MASTER_ADDR defaults to 127.0.0.1


@pytest.mark.parametrize('launcher', ['slurm', 'mpi'])
def test_launcher_trains_one_two_rank_job(launcher, tmp_path, tiny_data):
    port = free_port()
    work_dir = str(tmp_path)
    procs = []
    for rank in (0, 1):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                         'MASTER_PORT')
        }
        env.update(_launcher_env(launcher, rank, port))
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        env['OMP_NUM_THREADS'] = '1'
        procs.append(
            subprocess.Popen(
                [
                    sys.executable, 'tools/train.py', DEMO_CONFIG,
                    '--launcher', launcher, '--work-dir', work_dir,
                    '--data-root', tiny_data, '--cfg-options'
                ] + TINY_OPTIONS,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True))
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-4000:]
    log = outputs[0][0] + outputs[0][1]
    assert 'GPU number: 2' in log, log[-3000:]  # mmengine's env summary
    losses = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2, 3, 4]
