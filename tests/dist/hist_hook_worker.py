"""Run under torchrun (2 ranks, gloo): GradientHistogramHook sums the
histograms of all ranks (mmdet focal/L1 losses, inputs captured per call;
and our GHM losses, global already), also when rank 1 has no positive;
only rank 0 writes the PNG.

Usage: torchrun --nproc_per_node=2 hist_hook_worker.py WORK_DIR CASE
CASE: focal | focal_no_pos | ghm
"""
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist

from mmdet_lossplus.hooks import (GradientHistogramHook, cls_gradient_counts,
                                  reg_gradient_counts)


def main():
    from hist_hook_helpers import TinyDetector, batch, fake_runner
    work_dir, case = sys.argv[1], sys.argv[2]
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    ghm = case == 'ghm'
    model = TinyDetector(ghm=ghm)
    hook = GradientHistogramHook(interval=1, bins=30)
    # a work dir per rank, to see who writes
    work_dir = osp.join(work_dir, f'rank{rank}')
    os.makedirs(work_dir)
    runner = fake_runner(model, work_dir, it=0, name=f'r{rank}')
    hook.before_run(runner)
    parts = [
        batch(10 + r, no_positives=(case == 'focal_no_pos' and r == 1))
        for r in range(2)
    ]
    mine = parts[rank]
    hook.before_train_iter(runner, 0)
    head = model.bbox_head
    if ghm:
        head.loss_cls(*mine[:3])
        head.loss_bbox(*mine[3:])
    else:
        head.loss_cls(*mine[:3], avg_factor=10.0)
        head.loss_bbox(*mine[3:], avg_factor=10.0)
    hook.after_train_iter(runner, 0)
    union = [torch.cat([p[i] for p in parts]) for i in range(6)]
    want_cls = cls_gradient_counts(*union[:3], 30)
    want_reg = reg_gradient_counts(*union[3:], 10 if ghm else 30, 0.02)
    got = hook.history[0]
    assert torch.equal(got['cls'], want_cls), (got['cls'], want_cls)
    assert torch.equal(got['reg'], want_reg), (got['reg'], want_reg)
    hook.after_run(runner)
    png = osp.join(work_dir, 'gradient_histograms.png')
    assert osp.exists(png) == (rank == 0)
    print(f'rank {rank} OK {case}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
