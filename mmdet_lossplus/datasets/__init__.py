from .coco_with_angles import (CocoDatasetWithAngles, LoadAngles,
                               PackDetInputsWithAngles)
from .digits_demo import CLASSES, generate_digits_coco
from .object_count_shard_sampler import (ObjectCountShardSampler,
                                         object_count_shards)

__all__ = [
    'CLASSES', 'CocoDatasetWithAngles', 'LoadAngles',
    'PackDetInputsWithAngles', 'generate_digits_coco',
    'ObjectCountShardSampler', 'object_count_shards'
]
