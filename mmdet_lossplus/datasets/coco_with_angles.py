"""COCO detection data whose annotations carry an ``angle`` per object
(the demo data does: radians, counter-clockwise on screen), loaded into
``gt_instances.angles`` for heads with an orientation branch."""
from typing import List, Union

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import PackDetInputs

from ..registry import DATASETS, TRANSFORMS


@DATASETS.register_module()
class CocoDatasetWithAngles(CocoDataset):
    """mmdet's ``CocoDataset`` that also copies each kept annotation's
    ``angle`` into its instance dict.

    mmdet drops some annotations (zero area, unknown category, ignored);
    instances follow the annotations in order, so each instance is paired
    with the next annotation of the same box and category.
    """

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List]:
        data_info = super().parse_data_info(raw_data_info)
        anns = iter(raw_data_info['raw_ann_info'])
        for instance in data_info['instances']:
            for ann in anns:
                x, y, w, h = ann['bbox']
                if (self.cat2label.get(ann['category_id'])
                        == instance['bbox_label'] and np.allclose(
                            instance['bbox'], [x, y, x + w, y + h])):
                    break
            else:
                raise ValueError(
                    f'annotation of instance {instance} not found in image '
                    f"{raw_data_info['raw_img_info'].get('file_name')}")
            if 'angle' not in ann:
                raise ValueError(
                    f"annotation {ann.get('id')} has no 'angle' (needed by "
                    'CocoDatasetWithAngles)')
            instance['angle'] = float(ann['angle'])
        return data_info


@TRANSFORMS.register_module()
class LoadAngles:
    """Put the instances' angles in ``results['gt_angles']`` (float32
    ``[num_instances]``, aligned with ``gt_bboxes``); place it after
    ``LoadAnnotations``. Geometric augmentations other than isotropic
    resizing would have to rotate the angles too, so none are supported."""

    def __call__(self, results: dict) -> dict:
        results['gt_angles'] = np.array(
            [inst['angle'] for inst in results.get('instances', [])],
            dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return 'LoadAngles()'


@TRANSFORMS.register_module()
class PackDetInputsWithAngles(PackDetInputs):
    """``PackDetInputs`` that also packs ``gt_angles`` into
    ``gt_instances.angles`` (split from ignored instances like boxes)."""

    mapping_table = dict(PackDetInputs.mapping_table, gt_angles='angles')
