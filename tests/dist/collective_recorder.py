"""Run a torchrun worker with every ``torch.distributed`` collective
recorded (operation, tensor shapes and dtypes, reduce op); at exit each
rank writes its sequence to ``$LOSSPLUS_COLLECTIVE_LOG/rank<R>.json`` and
``conftest.run_torchrun`` checks that every rank issued the same one: a
rank that skips or reorders a collective hangs a real job. Nothing is
communicated for the check itself (an extra collective at the end of a
run could itself race the ranks' shutdown).

Usage (what ``conftest.run_torchrun`` does):
    LOSSPLUS_COLLECTIVE_LOG=DIR torchrun ... collective_recorder.py \
        WORKER [ARGS...]
"""
import atexit
import json
import os
import os.path as osp
import runpy
import sys

import torch
import torch.distributed as td

OPS = ('all_reduce', 'all_gather', 'all_gather_into_tensor', 'broadcast',
       'reduce', 'reduce_scatter', 'reduce_scatter_tensor', 'gather',
       'scatter', 'all_to_all', 'all_to_all_single', 'barrier',
       'all_gather_object', 'broadcast_object_list', 'gather_object')

LOG = []


def describe(value):
    """What must agree across ranks for a collective argument."""
    if torch.is_tensor(value):
        return ['tensor', list(value.shape), str(value.dtype)]
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, td.ReduceOp) or type(value).__name__ == \
            'RedOpType':
        return str(value)
    return type(value).__name__


def _recording(name, original):

    def call(*args, **kwargs):
        if name.endswith('_object') or name == 'broadcast_object_list':
            LOG.append([name, len(args[0]) if args else None])
        else:
            LOG.append([
                name,
                describe(args),
                sorted([k, describe(v)] for k, v in kwargs.items()
                       if k != 'group')
            ])
        return original(*args, **kwargs)

    return call


def first_difference(logs):
    """``(index, rank, call, rank 0's call)`` of the first difference, or
    None when every rank's log is the same."""
    for r, log in enumerate(logs):
        if log != logs[0]:
            n = min(len(log), len(logs[0]))
            i = next((k for k in range(n) if log[k] != logs[0][k]), n)
            mine = log[i] if i < len(log) else '(none)'
            ref = logs[0][i] if i < len(logs[0]) else '(none)'
            return i, r, mine, ref
    return None


def compare_logs(folder, world):
    """``None`` when the ``world`` ranks' logs in ``folder`` agree, else a
    message naming the first difference. A run whose processes wrote no
    log at all (a tool that leaves through ``os._exit``, as training
    tools do) is not checked; some ranks without a log is a failure."""
    if not any(
            osp.exists(osp.join(folder, f'rank{r}.json'))
            for r in range(world)):
        return None
    logs = []
    for r in range(world):
        path = osp.join(folder, f'rank{r}.json')
        if not osp.exists(path):
            return f'rank {r} wrote no collective log'
        with open(path) as f:
            logs.append(json.load(f))
    diff = first_difference(logs)
    if diff is None:
        return None
    i, r, call, ref = diff
    return (f'COLLECTIVES DIFFER at call {i}: rank {r} issued {call}, '
            f'rank 0 {ref}')


def _write(folder):
    rank = os.environ.get('RANK', '0')
    with open(osp.join(folder, f'rank{rank}.json'), 'w') as f:
        json.dump(LOG, f)


def install(folder):
    for name in OPS:
        if hasattr(td, name):
            setattr(td, name, _recording(name, getattr(td, name)))
    atexit.register(_write, folder)


if __name__ == '__main__':
    install(os.environ['LOSSPLUS_COLLECTIVE_LOG'])
    worker = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = osp.dirname(osp.abspath(worker))  # as if run directly
    runpy.run_path(worker, run_name='__main__')
