"""Run a torchrun worker with every ``torch.distributed`` collective
recorded (operation, tensor shapes and dtypes, reduce op) and check, when
the worker destroys its process group, that every rank issued the same
sequence: a rank that skips or reorders a collective hangs a real job.

Usage (what ``conftest.run_torchrun`` does):
    torchrun ... collective_recorder.py WORKER [ARGS...]
Prints ``rank R COLLECTIVES SAME n`` or, on a difference, ``rank R
COLLECTIVES DIFFER`` with the first differing call, and exits 3.
"""
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
_ORIGINAL = {name: getattr(td, name) for name in OPS if hasattr(td, name)}


def describe(value):
    """What must agree across ranks for a collective argument."""
    if torch.is_tensor(value):
        return ('tensor', tuple(value.shape), str(value.dtype))
    if isinstance(value, (list, tuple)):
        return tuple(describe(v) for v in value)
    if isinstance(value, td.ReduceOp) or type(value).__name__ == \
            'RedOpType':
        return str(value)
    return type(value).__name__


def _recording(name, original):

    def call(*args, **kwargs):
        if name.endswith('_object') or name == 'broadcast_object_list':
            LOG.append((name, len(args[0]) if args else None))
        else:
            LOG.append((name, describe(args),
                        tuple(
                            sorted((k, describe(v)) for k, v in kwargs.items()
                                   if k != 'group'))))
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


def _checked_destroy(original_destroy):

    def destroy(*args, **kwargs):
        if td.is_initialized() and td.get_world_size() > 1:
            rank = td.get_rank()
            mine = list(LOG)
            logs = [None] * td.get_world_size()
            _ORIGINAL['all_gather_object'](logs, mine)
            # no rank leaves (closing its connections) while another may
            # still wait for its last message: gloo on torch 2.1 hung there
            # in 2 of 12 runs without this barrier
            _ORIGINAL['barrier']()
            diff = first_difference(logs)
            if diff is not None:
                i, r, call, ref = diff
                print(
                    f'rank {rank} COLLECTIVES DIFFER at call {i}: rank {r} '
                    f'issued {call}, rank 0 {ref}',
                    flush=True)
                original_destroy(*args, **kwargs)
                sys.exit(3)
            print(f'rank {rank} COLLECTIVES SAME {len(mine)}', flush=True)
        return original_destroy(*args, **kwargs)

    return destroy


def install():
    for name, original in _ORIGINAL.items():
        setattr(td, name, _recording(name, original))
    td.destroy_process_group = _checked_destroy(td.destroy_process_group)


if __name__ == '__main__':
    install()
    worker = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = osp.dirname(osp.abspath(worker))  # as if run directly
    runpy.run_path(worker, run_name='__main__')
