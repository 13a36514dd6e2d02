"""Run under torchrun (2 ranks, gloo): LossStateCheckHook passes while the
GHM EMA is identical on the ranks, and fails on every rank (bounded, with
a clear message) once it is not.

Usage: torchrun --nproc_per_node=2 state_check_worker.py CASE
CASE: global (global histograms: identical) | local (scope='local' on
different data: diverges) | perturbed (rank 1's state edited) | nan (rank
1's state NaN: the deviation is NaN) | nan_both (the same NaN on both ranks:
no deviation, but corrupted)
"""
import sys

import torch
import torch.distributed as dist
from torch import nn

from mmdet_lossplus.hooks import LossStateCheckHook
from mmdet_lossplus.losses import GHMC


def main():
    case = sys.argv[1]
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    model = nn.Module()
    model.loss_cls = GHMC(
        bins=10, momentum=0.75, scope='local' if case == 'local' else 'global')
    g = torch.Generator().manual_seed(rank)  # different data per rank
    for _ in range(3):
        pred = torch.randn(200, 4, generator=g) * 3
        target = torch.randint(0, 5, (200, ), generator=g)
        model.loss_cls(pred, target)
    if case == 'perturbed' and rank == 1:
        model.loss_cls.acc_sum[3] += 1.0
    if case == 'nan' and rank == 1 or case == 'nan_both':
        model.loss_cls.acc_sum[3] = float('nan')
    hook = LossStateCheckHook(interval=1)
    try:
        dev = hook.check(model, 3)
        print(f'rank {rank} CONSISTENT deviation {dev}', flush=True)
    except RuntimeError as e:
        kind = 'CORRUPTED' if 'corrupted' in str(e) else 'DIVERGED'
        print(f'rank {rank} {kind} {e}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
