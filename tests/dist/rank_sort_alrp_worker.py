"""Run under torchrun (2 ranks, gloo): Rank & Sort and aLRP global-ranking
exactness of the loss modules, and aLRP's self-balance on every rank.

Each rank holds a slice of the anchors of a common batch. Against one
process on the union (computed locally with scope='local', no collective):
the losses on every rank equal the union's and each rank's gradients
divided by the world size (DDP's average) equal the union's of its rows,
for the logits and for aLRP's localisation errors. After several training
calls with ``sb_interval=2`` the self-balancing weight equals the union's
on every rank (global scope) and is identical across ranks (local scope).
Case 'shifted': scope='local' must differ from the union.

Usage: torchrun --nproc_per_node=2 rank_sort_alrp_worker.py LOSS CASE
LOSS: ranksort | alrp
CASE: split | nopos (rank 1 has no positives) | empty (rank 1 has no
rows) | allneg (no positive anywhere) | shifted
LOSSPLUS_TEST_DEVICE=cuda runs it on CUDA tensors (tests/gpu).
"""
import os
import sys

import torch
import torch.distributed as dist

from ranking_cases import apply_case, rows_of

from mmdet_lossplus.losses import RankSortLoss, aLRPLoss

DEVICE = torch.device(os.environ.get('LOSSPLUS_TEST_DEVICE', 'cpu'))
N, C = 300, 5


def union_batch(case):
    g = torch.Generator().manual_seed(11)
    pred = torch.randn(N, C, generator=g) * 2
    labels = torch.randint(0, C, (N, ), generator=g)
    labels[torch.rand(N, generator=g) < 0.7] = C  # mostly background
    weights = (torch.rand(N, generator=g) > 0.1).float()
    ious = torch.rand(N, generator=g) * 0.9 + 0.05
    loc = torch.rand(N, generator=g) * 1.5  # per anchor, read at positives
    apply_case(case, pred, labels, C)
    return pred, labels, weights, ious, loc


def call(loss_name, scope, pred, labels, weights, ious, loc, module=None):
    """Both outputs and the gradients of the logits (and loc errors)."""
    x = pred.clone().requires_grad_()
    if loss_name == 'ranksort':
        module = module or RankSortLoss(scope=scope)
        out = module(x, (labels, ious), weights)
        sum(out).backward()
        return [o.detach() for o in out], x.grad, None
    module = module or aLRPLoss(scope=scope, sb_interval=2)
    pos = (labels < C) & (weights > 0)
    errors = loc[pos].clone().requires_grad_()
    out = module(x, labels, weights, loc_errors=errors)
    sum(out).backward()
    return [o.detach() for o in out], x.grad, errors.grad


def main():
    loss_name, case = sys.argv[1], sys.argv[2]
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    batch = [t.to(DEVICE) for t in union_batch(case)]
    rows = rows_of(rank, case, N)
    mine = [t[rows] for t in batch]
    ref_out, ref_grad, ref_loc_grad = call(loss_name, 'local', *batch)

    out, grad, loc_grad = call(loss_name, 'global', *mine)
    for a, b in zip(out, ref_out):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), (case, a, b)
    assert torch.allclose(
        grad / world, ref_grad[rows], atol=1e-7, rtol=1e-5), case
    if loc_grad is not None:
        pos = (batch[1] < C) & (batch[2] > 0)
        union_rows = torch.zeros(N, dtype=torch.bool, device=DEVICE)
        union_rows[rows] = True
        ref_mine = ref_loc_grad[union_rows[pos]]
        assert torch.allclose(
            loc_grad / world, ref_mine, atol=1e-7, rtol=1e-5), case
    if case == 'allneg':
        assert all(float(o) == 0 for o in ref_out)

    if case == 'shifted':
        local_out, _, _ = call(loss_name, 'local', *mine)
        values = [torch.zeros((), device=DEVICE) for _ in range(world)]
        dist.all_gather(values, local_out[0])
        assert not all(
            torch.allclose(v, ref_out[0], rtol=1e-3) for v in values)

    if loss_name == 'alrp':
        # five training calls: SB re-estimated twice
        union, shard = aLRPLoss(scope='local', sb_interval=2), \
            aLRPLoss(scope='global', sb_interval=2)
        local = aLRPLoss(scope='local', sb_interval=2)
        for step in range(5):
            shifted = [batch[0] + 0.2 * step] + batch[1:]
            call('alrp', None, *shifted, module=union)
            call('alrp', None, *[t[rows] for t in shifted], module=shard)
            call('alrp', None, *[t[rows] for t in shifted], module=local)
        sb = [shard.sb_weight.clone(), local.sb_weight.clone()]
        assert torch.allclose(sb[0], union.sb_weight, rtol=1e-6), \
            (sb[0], union.sb_weight)
        for value in sb:
            both = [torch.zeros_like(value) for _ in range(world)]
            dist.all_gather(both, value)
            assert torch.equal(both[0], both[1]), both
    dist.barrier()
    print(f'rank {rank} OK {loss_name} {case}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
