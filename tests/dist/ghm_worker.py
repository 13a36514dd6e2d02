"""Run under torchrun (2 ranks, gloo): GHM global-histogram exactness.

Every rank holds a slice of a common batch. For each of several successive
calls it checks, against a single-process computation on the union (done
locally with ``scope='local'``, i.e. without any collective):
(a) the loss value equals the union's; (b) its gradient divided by the world
size equals the union's gradient of its own rows; (c) the EMA state equals
the union's and is identical on every rank. Exits non-zero on a mismatch.

Usage: torchrun --nproc_per_node=2 ghm_worker.py CASE
CASE: split (uneven halves), empty (rank 1 has no rows), ignored (rank 1's
rows are all ignored). LOSSPLUS_TEST_DEVICE=cuda runs it on CUDA tensors
(gloo reduces them too; tests/gpu uses it).
"""
import os
import sys

import torch
import torch.distributed as dist

from mmdet_lossplus.losses import GHMC, GHMR

SCOPE = {True: 'global', False: 'local'}
DEVICE = torch.device(os.environ.get('LOSSPLUS_TEST_DEVICE', 'cpu'))


def union_batch(call, kind):
    g = torch.Generator().manual_seed(100 + call)
    n = 400
    if kind == 'cls':
        pred = torch.randn(n, 6, generator=g) * 3
        target = torch.randint(0, 7, (n, ), generator=g)
        weight = (torch.rand(n, generator=g) > 0.2).float()
    else:
        pred = torch.randn(n, 4, generator=g) * 0.2
        target = torch.randn(n, 4, generator=g) * 0.2
        weight = (torch.rand(n, 1, generator=g)
                  > 0.4).float().expand(n, 4).contiguous()
    return pred, target, weight


def rows_of(rank, case, n):
    if case == 'split':
        return slice(0, 300) if rank == 0 else slice(300, n)
    if case in ('empty', 'ignored'):
        return slice(0, n) if rank == 0 else slice(n, n)
    raise ValueError(case)


def check(case, kind, make):
    rank, world = dist.get_rank(), dist.get_world_size()
    ours, single = make(True).to(DEVICE), make(False).to(DEVICE)
    for call in range(3):
        pred, target, weight = (t.to(DEVICE) for t in union_batch(call, kind))
        rows = rows_of(rank, case, len(pred))
        if case == 'ignored':
            # rank 1 holds real rows, but every one of them is ignored
            weight = weight.clone()
            weight[200:] = 0
            rows = slice(0, 200) if rank == 0 else slice(200, len(pred))
        x = pred[rows].clone().requires_grad_()
        loss = ours(x, target[rows], weight[rows])
        loss.backward()
        xs = pred.clone().requires_grad_()
        ref = single(xs, target, weight)
        ref.backward()
        assert torch.allclose(
            loss.detach(), ref.detach(),
            rtol=1e-6), (case, kind, call, rank, loss.item(), ref.item())
        assert torch.allclose(
            x.grad / world, xs.grad[rows], rtol=1e-5,
            atol=1e-10), (case, kind, call, rank)
        assert torch.allclose(ours.acc_sum, single.acc_sum, rtol=1e-6)
        gathered = [torch.zeros_like(ours.acc_sum) for _ in range(world)]
        dist.all_gather(gathered, ours.acc_sum)
        assert all(torch.equal(gathered[0], t) for t in gathered), 'drift'


def main():
    case = sys.argv[1]
    dist.init_process_group('gloo')
    check(case, 'cls', lambda g: GHMC(bins=30, momentum=0.75, scope=SCOPE[g]))
    check(case, 'reg',
          lambda g: GHMR(mu=0.02, bins=10, momentum=0.7, scope=SCOPE[g]))
    dist.barrier()
    print(f'rank {dist.get_rank()} OK {case}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
