"""Run under torchrun (2 ranks, gloo): RankingStatsHook's global AP is the
AP of the union's ranking, its per-rank APs and positive-score spread are
the ranks' own; also with a rank that has no positive, and from our
APLoss (global mode, no recomputation).

Usage: torchrun --nproc_per_node=2 ranking_worker.py CASE
CASE: focal | no_pos | aploss
"""
import sys

import torch
import torch.distributed as dist
from mmdet.models.losses import FocalLoss
from torch import nn

from mmdet_lossplus.hooks import RankingStatsHook, batch_ap
from mmdet_lossplus.losses import APLoss
from mmdet_lossplus.core.targets import ranking_labels


def data(r, case):
    g = torch.Generator().manual_seed(r)
    pred = torch.randn(60, 4, generator=g) + (1.5 if r == 0 else 0.0)
    target = torch.randint(0, 5, (60, ), generator=g)
    if case == 'no_pos' and r == 1:
        target[:] = 4
    return pred, target


def main():
    from hist_hook_helpers import fake_runner
    case = sys.argv[1]
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    model = nn.Module()
    model.bbox_head = nn.Module()
    model.bbox_head.conv = nn.Linear(1, 1)
    model.bbox_head.loss_cls = APLoss() if case == 'aploss' else FocalLoss()
    hook = RankingStatsHook(interval=1)
    runner = fake_runner(model, '/tmp', name=f'rank{rank}')
    hook.before_run(runner)
    hook.before_train_iter(runner, 0)
    pred, target = data(rank, case)
    model.bbox_head.loss_cls(pred, target, torch.ones(60))
    hook.after_train_iter(runner, 0)
    got = hook.history[-1]
    parts = [data(r, case) for r in range(2)]
    union_pred = torch.cat([p for p, _ in parts])
    union_labels = torch.cat([ranking_labels(p, t, None) for p, t in parts])
    want = batch_ap(union_pred, union_labels, hook.delta, False).item()
    assert abs(got['global_ap'] - want) < 1e-6, (got, want)
    local = [
        batch_ap(p, ranking_labels(p, t, None), hook.delta, False).item()
        for p, t in parts
    ]
    means = [
        torch.sigmoid(p[ranking_labels(p, t, None).view(p.shape) == 1])
        for p, t in parts
    ]
    with_pos = [i for i in range(2) if means[i].numel() > 0]
    assert abs(got['local_ap_min'] - min(local[i] for i in with_pos)) < 1e-6
    assert abs(got['local_ap_max'] - max(local[i] for i in with_pos)) < 1e-6
    m = [means[i].double().mean().item() for i in with_pos]
    assert abs(got['pos_score_spread'] - (max(m) - min(m))) < 1e-6
    assert got['num_pos'] == sum(x.numel() for x in means)
    print(f'rank {rank} OK {case} {got}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
