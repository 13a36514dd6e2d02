import json
import os.path as osp

import pytest
import torch

from mmdet_lossplus.datasets import CLASSES, CocoDatasetWithAngles

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='mmdet_lossplus.LoadAngles'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='mmdet_lossplus.PackDetInputsWithAngles')
]


def _dataset(root, ann='annotations/train.json', prefix='train/'):
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return CocoDatasetWithAngles(
        data_root=root,
        ann_file=ann,
        data_prefix=dict(img=prefix),
        metainfo=dict(classes=CLASSES),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=PIPELINE)


def test_angles_reach_gt_instances_in_annotation_order(tiny_data):
    ds = _dataset(tiny_data)
    with open(osp.join(tiny_data, 'annotations', 'train.json')) as f:
        coco = json.load(f)
    by_image = {}
    for ann in coco['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    checked = 0
    for i in range(len(ds)):
        item = ds[i]
        sample = item['data_samples']
        anns = by_image.get(sample.img_id, [])
        got = sample.gt_instances.angles
        assert got.dtype == torch.float32
        assert len(got) == len(sample.gt_instances.bboxes) == len(anns)
        want = torch.tensor([a['angle'] for a in anns], dtype=torch.float32)
        assert torch.allclose(got, want)
        checked += len(anns)
    assert checked > 10


def test_missing_angle_is_a_clear_error(tiny_data, tmp_path):
    with open(osp.join(tiny_data, 'annotations', 'train.json')) as f:
        coco = json.load(f)
    for ann in coco['annotations']:
        ann.pop('angle')
    path = tmp_path / 'no_angle.json'
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError, match="has no 'angle'"):
        _dataset(tiny_data, ann=str(path))
