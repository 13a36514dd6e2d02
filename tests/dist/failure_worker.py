"""Run under torchrun (2 ranks, gloo): a failing or stalled rank ends the
job in bounded time instead of hanging it.

Usage: torchrun --nproc_per_node=2 failure_worker.py CASE
CASE: raise (rank 1 raises before a collective rank 0 has entered) |
stall (rank 1 never reaches the collective; rank 0's collective timeout,
5 s, set through init_cpu_process_group, fires) |
finish (both ranks finish and end through shutdown_process_group(0): the
process exits there, with its output flushed)
"""
import sys
import time

import torch
import torch.distributed as dist

from mmdet_lossplus.dist import all_reduce_sum
from mmdet_lossplus.utils import init_cpu_process_group, shutdown_process_group


def main():
    case = sys.argv[1]
    init_cpu_process_group('pytorch', timeout_s=5)
    rank = dist.get_rank()
    if rank == 1 and case == 'raise':
        raise ValueError('rank 1 failed on purpose')
    if rank == 1 and case == 'stall':
        time.sleep(120)  # stalled: never joins the collective
    all_reduce_sum(torch.ones(3))  # rank 0 waits here
    print(f'rank {rank} finished', flush=True)
    if case == 'finish':
        print(f'rank {rank} unflushed line')  # flushed by the shutdown
        shutdown_process_group(exit_code=0)
        print('not reached', flush=True)


if __name__ == '__main__':
    main()
