"""Run under torchrun (2 ranks, gloo): the global-batch primitives of
``mmdet_lossplus.dist`` against their definitions, with uneven data and a
rank without data.

Usage: torchrun --nproc_per_node=2 primitives_worker.py
"""
import torch
import torch.distributed as torch_dist

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
    # all_gather_variable with an empty rank
    gathered, offset = dist.all_gather_variable(x.detach())
    assert gathered.tolist() == [1., 2., 3.]
    assert offset == (0 if rank == 0 else 3)
    torch_dist.barrier()
    print(f'rank {rank} OK primitives', flush=True)
    torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
