"""A sampler that gives each process systematically different images."""
from typing import Iterator, List, Optional

import torch
from torch.utils.data import Sampler

from .. import dist
from ..registry import DATA_SAMPLERS


def object_count_shards(counts: List[int], world: int) -> List[List[int]]:
    """Dataset indices sorted by object count (ties by index), cut into
    ``world`` contiguous shards of equal size (the remainder of the
    division is left out): shard 0 holds the images with the fewest
    objects, the last shard those with the most."""
    order = sorted(range(len(counts)), key=lambda i: (counts[i], i))
    per = len(order) // world
    return [order[r * per:(r + 1) * per] for r in range(world)]


@DATA_SAMPLERS.register_module()
class ObjectCountShardSampler(Sampler):
    """Each process draws only from its own shard of the training set, the
    shards cut from the images sorted by their number of objects.

    mmengine's ``DefaultSampler`` deals a shuffled data set round-robin, so
    every process sees the same mixture; on real clusters batches often
    differ systematically between processes (grouped by image size,
    source or content). This sampler makes that shift explicit and
    reproducible, to measure what per-process ranking losses suffer from
    it (the score-shift sweep). Not meant for ordinary training: every
    process sees a fixed part of the data.

    Args:
        dataset: An mmengine dataset whose ``get_data_info(i)`` has
            ``instances`` (mmdet's detection datasets).
        shuffle: Shuffle the shard every epoch (seeded, the same order on
            a restart).
        seed: Shuffle seed; None draws one shared by every process.
        rank, world_size: This process and the number of processes; None
            reads them from the process group (for tests).
    """

    def __init__(self,
                 dataset,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        if not isinstance(shuffle, bool):
            raise TypeError(f'shuffle must be a bool, got {shuffle!r}')
        self.rank = dist.rank() if rank is None else rank
        self.world_size = dist.world_size() if world_size is None \
            else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'rank must be in [0, world_size), got rank '
                             f'{self.rank}, world_size {self.world_size}')
        counts = [
            len(dataset.get_data_info(i).get('instances', []))
            for i in range(len(dataset))
        ]
        if len(counts) < self.world_size:
            raise ValueError(f'dataset has {len(counts)} images, fewer than '
                             f'the {self.world_size} processes')
        self.dataset = dataset  # mmdet's batch samplers read it
        self.indices = object_count_shards(counts, self.world_size)[self.rank]
        self.shuffle = shuffle
        self.seed = dist.shared_random_seed() if seed is None else seed
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(self.indices)
        gen = torch.Generator()
        gen.manual_seed(self.seed + self.epoch)
        perm = torch.randperm(len(self.indices), generator=gen).tolist()
        return iter([self.indices[i] for i in perm])

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
