"""Run under torchrun (2 ranks, gloo): the global-batch primitives of
``mmdet_lossplus.dist`` against their definitions, with uneven data and a
rank without data.

Usage: torchrun --nproc_per_node=2 primitives_worker.py
"""

import torch
import torch.distributed as torch_dist

from sync_counter import count_host_syncs

from mmdet_lossplus import dist


def main():
    torch_dist.init_process_group('gloo')
    rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
    # rank 0 holds 3 entries, rank 1 none: the union is [1, 2, 3]
    x = torch.tensor([1., 2., 3.]) if rank == 0 else torch.zeros(0)
    x.requires_grad_()
    # global_value: the value is the sum over ranks, the gradient W times
    # the local one (so DDP's average is the single-process gradient)
    v = dist.global_value((x**2).sum())
    assert v.item() == 14.0, v
    v.backward()
    assert torch.equal(x.grad, 2 * x.detach() * world)
    # global_normaliser: N_global / W
    n, w = dist.global_normaliser(float(x.numel()), 'cpu')
    assert w == world and n.item() == 1.5, n
    # global_report: the mean over ranks on every rank, gradient unchanged
    y = torch.tensor(2.0 + rank, requires_grad=True)
    out = dist.global_report(dict(a=y * 3))['a']
    assert out.item() == 7.5, out  # (6 + 9) / 2
    out.backward()
    assert y.grad.item() == 3.0
    # gathers with an empty rank
    sizes = [3, 0]
    assert dist.all_gather_sized(x.detach(), sizes).tolist() == [1., 2., 3.]
    rows = dist.all_gather_rows(torch.tensor([rank, 10 + rank]))
    assert rows.tolist() == [[0, 10], [1, 11]]
    assert dist.all_reduce_min(torch.tensor(5.0 - rank)).item() == 4.0
    # host round-trips across real ranks: the heads' normaliser and
    # reported values add none; global AP-loss makes one, GHM none
    from mmdet_lossplus.functional import torch_compat
    from mmdet_lossplus.losses import GHMC, APLoss
    # the CUDA branches (on CPU bincount counts, but waits for nothing)
    torch_compat.FORCE_PORTABLE = True
    z = torch.tensor(3.0 + rank, requires_grad=True)
    assert count_host_syncs(
        lambda: dist.global_normaliser(float(rank), 'cpu', minimum=1.0)) == {}
    assert count_host_syncs(lambda: dist.global_report(dict(a=z * 2))) == {}
    assert count_host_syncs(lambda: dist.global_value(z * 2)) == {}
    g = torch.Generator().manual_seed(rank)
    pred = torch.randn(300, 5, generator=g)
    target = torch.randint(0, 6, (300, ), generator=g)

    def step(loss):
        x = pred.clone().requires_grad_()
        loss(x, target).backward()

    ap = count_host_syncs(lambda: step(APLoss()))
    assert ap == {'Tensor.tolist': 1}, ap
    ghmc = GHMC(bins=10, momentum=0.75)
    ghmc.select_rows = False  # the accelerator path (CPU selects rows)
    ghm = count_host_syncs(lambda: step(ghmc))
    assert ghm == {}, ghm
    torch_dist.barrier()
    print(f'rank {rank} OK primitives', flush=True)
    torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
