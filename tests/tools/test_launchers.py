"""The slurm and mpi launchers on CPU: two processes started by hand with
the variables srun / mpirun would set (neither is installed here) train
one 2-rank job through tools/train.py, like torchrun's."""
import sys

import pytest
from conftest import (DEMO_CONFIG, TINY_OPTIONS, free_port, read_scalars,
                      run_together)


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
    command = [
        sys.executable, 'tools/train.py', DEMO_CONFIG, '--launcher', launcher,
        '--work-dir', work_dir, '--data-root', tiny_data, '--cfg-options'
    ] + TINY_OPTIONS
    outputs = run_together(
        [command] * 2,
        [_launcher_env(launcher, rank, port) for rank in (0, 1)],
        # what torchrun would have set must not leak in
        drop=('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
              'MASTER_PORT'))
    log = outputs[0]
    assert 'GPU number: 2' in log, log[-3000:]  # mmengine's env summary
    losses = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2, 3, 4]
