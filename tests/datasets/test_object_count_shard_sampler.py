"""ObjectCountShardSampler: shards by hand, the order per epoch, the
argument checks, and the split taken from a real 2-process group."""
import os.path as osp

import pytest
from conftest import ROOT, run_torchrun
from mmengine.registry import DefaultScope

from mmdet_lossplus.datasets import (ObjectCountShardSampler,
                                     object_count_shards)
from mmdet_lossplus.registry import DATA_SAMPLERS


class _Counts:
    """A dataset stub: image i has counts[i] objects."""

    def __init__(self, counts):
        self.counts = counts

    def __len__(self):
        return len(self.counts)

    def get_data_info(self, i):
        return dict(instances=[{}] * self.counts[i])


COUNTS = [3, 0, 5, 1, 1, 4, 0, 2, 6]


def test_shards_by_hand():
    # sorted by count, ties by index: 1 6 | 3 4 | 7 0 | 5 2 | 8
    assert object_count_shards(COUNTS, 2) == [[1, 6, 3, 4], [7, 0, 5, 2]]
    assert object_count_shards(COUNTS, 4) == [[1, 6], [3, 4], [7, 0], [5, 2]]
    assert object_count_shards(COUNTS, 1) == [[1, 6, 3, 4, 7, 0, 5, 2, 8]]


def test_each_rank_draws_its_shard_in_a_seeded_order():
    data = _Counts(COUNTS)
    low = ObjectCountShardSampler(data, seed=5, rank=0, world_size=2)
    high = ObjectCountShardSampler(data, seed=5, rank=1, world_size=2)
    assert len(low) == len(high) == 4
    first = list(low)
    assert sorted(first) == [1, 3, 4, 6]
    assert sorted(high) == [0, 2, 5, 7]
    assert max(COUNTS[i] for i in low) <= min(COUNTS[i] for i in high)
    assert list(low) == first  # same epoch, same order
    orders = set()
    for epoch in range(6):
        low.set_epoch(epoch)
        orders.add(tuple(low))
    assert len(orders) > 1  # reshuffled across epochs
    assert low.dataset is data  # read by mmdet's batch samplers
    fixed = ObjectCountShardSampler(
        data, shuffle=False, seed=0, rank=1, world_size=2)
    assert list(fixed) == [7, 0, 5, 2]


def test_built_from_a_config_and_checked():
    data = _Counts(COUNTS)
    # as a config names it (mmdet's default scope, our scope prefix)
    with DefaultScope.overwrite_default_scope('mmdet'):
        sampler = DATA_SAMPLERS.build(
            dict(
                type='mmdet_lossplus.ObjectCountShardSampler',
                dataset=data,
                seed=0))
    assert len(sampler) == len(COUNTS)  # one process: the whole set
    with pytest.raises(ValueError, match='rank must be in'):
        ObjectCountShardSampler(data, rank=2, world_size=2)
    with pytest.raises(ValueError, match='fewer than'):
        ObjectCountShardSampler(_Counts([1]), seed=0, rank=0, world_size=2)
    with pytest.raises(TypeError, match='shuffle must be a bool'):
        ObjectCountShardSampler(data, shuffle='yes', seed=0)


def test_two_processes_split_the_data_by_object_count(tmp_path):
    worker = osp.join(ROOT, 'tests', 'dist', 'shard_sampler_worker.py')
    out = tmp_path / 'shards.txt'
    run_torchrun([worker, str(out)], nproc=2, timeout=300)
    shards = [
        sorted(int(v) for v in line.split())
        for line in out.read_text().splitlines()
    ]
    assert shards == [[1, 3, 4, 6], [0, 2, 5, 7]]
