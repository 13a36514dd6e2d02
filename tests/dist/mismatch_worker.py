"""Run under torchrun (2 ranks): the ranks issue collectives of different
shapes (the same number of elements, so gloo completes them); the
collective recorder must report the difference."""
import torch
import torch.distributed as dist

if __name__ == '__main__':
    dist.init_process_group('gloo')
    shape = (2, ) if dist.get_rank() == 0 else (2, 1)
    dist.all_reduce(torch.zeros(shape))
    dist.destroy_process_group()
