"""Run under torchrun (2 ranks, gloo): AP-loss global-ranking exactness.

Each rank holds a slice of the anchors of a common batch. Checks, against
a single process on the union (computed locally with scope='local', i.e.
without collectives): (a) the loss value on every rank equals the union's,
(b) each rank's gradient divided by the world size equals the union's
gradient of its own rows. Case 'shifted' checks instead that scope='local'
differs from the union when the ranks' scores are shifted apart.

Usage: torchrun --nproc_per_node=2 ap_worker.py CASE
CASE: split | nopos (rank 1 has no positives) | empty (rank 1 has no rows)
      | allneg (no positive anywhere) | shifted | nan (rank 1 has a NaN)
LOSSPLUS_TEST_DEVICE=cuda runs it on CUDA tensors (tests/gpu).
"""
import os
import sys

import torch
import torch.distributed as dist

from ranking_cases import apply_case, rows_of

from mmdet_lossplus.losses import APLoss

DEVICE = torch.device(os.environ.get('LOSSPLUS_TEST_DEVICE', 'cpu'))


def union_batch(case):
    g = torch.Generator().manual_seed(7)
    n, c = 300, 5
    pred = torch.randn(n, c, generator=g) * 2
    labels = torch.randint(0, c + 1, (n, ), generator=g)
    labels[torch.rand(n, generator=g) < 0.7] = c  # mostly background
    weights = (torch.rand(n, generator=g) > 0.1).float()
    apply_case(case, pred, labels, c)
    return pred, labels, weights


def main():
    case = sys.argv[1]
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    pred, labels, weights = (t.to(DEVICE) for t in union_batch(case))
    rows = rows_of(rank, case, 300)
    if case == 'nan':
        # Only rank 1 sees a NaN; both must raise, neither may hang.
        x = pred[rows].clone()
        if rank == 1:
            x[0, :] = float('nan')
            weights[200] = 1.0
        try:
            APLoss()(x, labels[rows], weights[rows])
        except ValueError as e:
            assert 'non-finite' in str(e)
            dist.barrier()
            print(f'rank {rank} OK {case}', flush=True)
            dist.destroy_process_group()
            return
        raise AssertionError('no error raised')

    xs = pred.clone().requires_grad_()
    ref = APLoss(scope='local')(xs, labels, weights)  # no collective
    ref.backward()

    for mode in ('global', 'local'):
        x = pred[rows].clone().requires_grad_()
        loss = APLoss(scope=mode)(x, labels[rows], weights[rows])
        loss.backward()
        same_value = torch.allclose(loss.detach(), ref.detach(), rtol=1e-6)
        same_grad = torch.allclose(
            x.grad / world, xs.grad[rows], atol=1e-7, rtol=1e-5)
        if mode == 'global':
            assert same_value, (case, rank, loss.item(), ref.item())
            assert same_grad, (case, rank)
        elif case == 'shifted':
            values = [torch.zeros((), device=DEVICE) for _ in range(world)]
            dist.all_gather(values, loss.detach())
            # Ranking each GPU alone misses the score shift between them.
            assert not all(
                torch.allclose(v, ref.detach(), rtol=1e-3)
                for v in values), (values, ref)
    if case == 'allneg':
        assert ref.item() == 0
    dist.barrier()
    print(f'rank {rank} OK {case}', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
