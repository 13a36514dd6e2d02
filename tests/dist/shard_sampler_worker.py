"""Under torchrun: each rank builds ObjectCountShardSampler from the
process group and rank 0 writes every rank's indices, one line each."""
import sys

import torch
import torch.distributed as dist

from mmdet_lossplus.datasets import ObjectCountShardSampler

COUNTS = [3, 0, 5, 1, 1, 4, 0, 2, 6]


class _Counts:

    def __len__(self):
        return len(COUNTS)

    def get_data_info(self, i):
        return dict(instances=[{}] * COUNTS[i])


def main() -> None:
    dist.init_process_group('gloo')
    sampler = ObjectCountShardSampler(_Counts())  # seed synced over ranks
    mine = torch.tensor(list(sampler))
    every = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    if dist.get_rank() == 0:
        with open(sys.argv[1], 'w') as f:
            for indices in every:
                f.write(' '.join(str(int(v)) for v in indices) + '\n')
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
