"""Start the default process group before mmengine's Runner does.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and
therefore fails on a CPU-only machine. The Runner skips ``init_dist`` when a
process group already exists, so on machines without CUDA we create one
with the gloo backend ourselves. With CUDA nothing is done here and mmengine
sets up NCCL exactly as in mmdet.
"""
import logging
import os
import sys
from datetime import timedelta
from typing import Any, Dict, Optional

import torch
import torch.distributed as dist

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _env_from_slurm(port: Optional[int]) -> Dict[str, str]:
    """torchrun-style variables derived from a slurm job step."""
    import subprocess
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(
        f'scontrol show hostname {node_list} | head -n1').strip()
    return dict(
        RANK=os.environ['SLURM_PROCID'],
        WORLD_SIZE=os.environ['SLURM_NTASKS'],
        LOCAL_RANK=os.environ['SLURM_LOCALID'],
        MASTER_ADDR=os.environ.get('MASTER_ADDR', addr),
        MASTER_PORT=os.environ.get('MASTER_PORT', str(port or 29500)))


def _env_from_mpi(port: Optional[int]) -> Dict[str, str]:
    """torchrun-style variables derived from Open MPI's."""
    return dict(
        RANK=os.environ['OMPI_COMM_WORLD_RANK'],
        WORLD_SIZE=os.environ['OMPI_COMM_WORLD_SIZE'],
        LOCAL_RANK=os.environ['OMPI_COMM_WORLD_LOCAL_RANK'],
        MASTER_ADDR=os.environ.get('MASTER_ADDR', '127.0.0.1'),
        MASTER_PORT=os.environ.get('MASTER_PORT', str(port or 29500)))


def init_cpu_process_group(launcher: str,
                           timeout_s: Optional[float] = None,
                           port: Optional[int] = None) -> bool:
    """Create a gloo process group when there is no CUDA device.

    Args:
        launcher: One of ``'none'``, ``'pytorch'``, ``'slurm'``, ``'mpi'``.
        timeout_s: Collective timeout in seconds (torch's default when
            None). A rank that dies makes the others fail after it.
        port: Master port for slurm/mpi when ``MASTER_PORT`` is unset.

    Returns:
        True when this call created the process group. False when the
        launcher is ``'none'``, CUDA is available (mmengine handles it), or
        a group already exists.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(
            f'launcher must be one of {LAUNCHERS}, got {launcher!r}')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if dist.is_available() and dist.is_initialized():
        return False
    if launcher == 'slurm':
        os.environ.update(_env_from_slurm(port))
    elif launcher == 'mpi':
        os.environ.update(_env_from_mpi(port))
    # torch 2.1 refuses timeout=None: pass it only when given
    kwargs: Dict[str, Any] = {}
    if timeout_s is not None:
        kwargs['timeout'] = timedelta(seconds=timeout_s)
    dist.init_process_group(backend='gloo', init_method='env://', **kwargs)
    return True


def shutdown_process_group(exit_code: Optional[int] = None) -> None:
    """Destroy the default process group, if any, before the process exits.

    Left alive, gloo's background threads can abort the interpreter at
    exit ("terminate called without an active exception") and turn a
    finished run into a failed one. Destroying the group is not always
    enough on torch 2.13: a finished 2-process CPU run (the resume test)
    still aborted once in interpreter teardown, after writing everything.
    With ``exit_code`` a process that had a gloo group ends right here with
    ``os._exit`` after flushing its streams and log files, skipping that
    teardown.
    """
    if dist.is_available() and dist.is_initialized():
        gloo = dist.get_backend() == 'gloo'
        dist.barrier()
        dist.destroy_process_group()
        if exit_code is not None and gloo:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exit_code)
