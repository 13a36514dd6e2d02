"""Run under torchrun (W ranks, gloo): LossStateCheckHook passes while the
losses' state is identical on the ranks, and fails on every rank (bounded,
with a clear message) once it is not.

Usage: torchrun --nproc_per_node=W state_check_worker.py LOSS CASE
LOSS: ghm (GHM-C's EMA) | alrp (aLRP's self-balancing weight and sums)
CASE: global (global scope: identical) | local (scope='local' on different
data: GHM's EMA diverges; aLRP's SB stays identical, its sums are not
compared) | perturbed (the last rank's state edited) | nan (the last rank's
state NaN) | nan_both (the same NaN on every rank: no spread, but
corrupted) | random (64 checks of random float64 states, the same on every
rank: a float mean over W ranks would differ from them)
"""
import sys

import torch
import torch.distributed as dist
from torch import nn

from mmdet_lossplus.hooks import LossStateCheckHook
from mmdet_lossplus.losses import GHMC, aLRPLoss

C = 4


def train(loss_name, scope, rank, calls=3):
    g = torch.Generator().manual_seed(rank)  # different data per rank
    model = nn.Module()
    if loss_name == 'ghm':
        model.loss_cls = GHMC(bins=10, momentum=0.75, scope=scope)
    else:
        model.loss_cls = aLRPLoss(scope=scope, sb_interval=2)
    for _ in range(calls):
        pred = torch.randn(200, C, generator=g) * 3
        target = torch.randint(0, C + 1, (200, ), generator=g)
        if loss_name == 'ghm':
            model.loss_cls(pred, target)
        else:
            loc = torch.rand(int((target < C).sum()), generator=g)
            model.loss_cls(pred, target, loc_errors=loc)
    return model


def state_of(model, loss_name):
    """The tensor the cases edit."""
    return model.loss_cls.acc_sum if loss_name == 'ghm' else \
        model.loss_cls.sb_weight.view(1)


def main():
    loss_name, case = sys.argv[1], sys.argv[2]
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    model = train(loss_name, 'local' if case == 'local' else 'global', rank)
    state, last = state_of(model, loss_name), rank == world - 1
    if case == 'perturbed' and last:
        state[0] += 1.0
    if case == 'nan' and last or case == 'nan_both':
        state[0] = float('nan')
    hook = LossStateCheckHook(interval=1)
    if case == 'random':
        g = torch.Generator().manual_seed(123)  # the same on every rank
        passed = 0
        for _ in range(64):
            state.copy_(
                torch.rand(state.shape, generator=g, dtype=torch.float64) *
                100)
            passed += hook.check(model, 3) == 0.0
        print(f'rank {rank} RANDOM {passed}/64', flush=True)
        dist.destroy_process_group()
        return
    try:
        spread = hook.check(model, 3)
        print(f'rank {rank} CONSISTENT spread {spread}', flush=True)
    except RuntimeError as e:
        kind = 'CORRUPTED' if 'corrupted' in str(e) else 'DIVERGED'
        print(f'rank {rank} {kind} {e}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
