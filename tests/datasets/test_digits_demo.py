import hashlib
import math
import os
import os.path as osp

import numpy as np
import pytest

from mmdet_lossplus.datasets import CLASSES, generate_digits_coco


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(dirpath, name)
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    generate_digits_coco(str(a), num_train=6, num_val=3, seed=7)
    generate_digits_coco(str(b), num_train=6, num_val=3, seed=7)
    generate_digits_coco(str(c), num_train=6, num_val=3, seed=8)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


@pytest.fixture(scope='module')
def medium(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('medium'))
    generate_digits_coco(out, num_train=120, num_val=40, seed=0)
    return out


def test_coco_content_is_valid_and_varied(medium):
    import cv2
    from pycocotools.coco import COCO
    for split, count in (('train', 120), ('val', 40)):
        ann = osp.join(medium, 'annotations', f'{split}.json')
        coco = COCO(ann)
        assert len(coco.getImgIds()) == count
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == \
            list(CLASSES)
        per_image = [len(coco.getAnnIds(imgIds=i)) for i in coco.getImgIds()]
        assert min(per_image) == 0, 'some images must have no objects'
        assert max(per_image) >= 4, 'several objects per image expected'
        anns = coco.loadAnns(coco.getAnnIds())
        labels = {a['category_id'] for a in anns}
        assert len(labels) == 10 if split == 'train' else len(labels) >= 8
        widths = []
        overlapping = 0
        for img_id in coco.getImgIds():
            info = coco.loadImgs(img_id)[0]
            image = cv2.imread(osp.join(medium, split, info['file_name']))
            assert image.shape == (info['height'], info['width'], 3)
            boxes = []
            for a in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
                x, y, w, h = a['bbox']
                assert 0 <= x and 0 <= y and w > 0 and h > 0
                assert x + w <= info['width'] and y + h <= info['height']
                assert a['area'] == pytest.approx(w * h)
                assert -math.pi <= a['angle'] < math.pi
                # The box must contain ink that differs from the
                # surroundings, i.e. the digit was really drawn there.
                crop = image[int(y):int(y + h), int(x):int(x + w)]
                assert crop.std() > 10
                widths.append(w)
                boxes.append((x, y, x + w, y + h))
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    p, q = boxes[i], boxes[j]
                    if min(p[2], q[2]) > max(p[0], q[0]) and \
                            min(p[3], q[3]) > max(p[1], q[1]):
                        overlapping += 1
        assert min(widths) < 20 and max(widths) > 40, 'scales must vary'
        assert overlapping > 0, 'some objects must overlap'
        angles = np.array([a['angle'] for a in anns])
        # Full circle: every quadrant is represented.
        hist, _ = np.histogram(angles, bins=4, range=(-math.pi, math.pi))
        assert (hist > 0).all()


def test_mmdet_reads_it_and_ground_truth_scores_map_one(medium):
    """CocoDataset and CocoMetric accept the files unchanged.

    Feeding the ground truth back as predictions must give mAP 1.
    """
    import torch
    from mmdet.datasets import CocoDataset
    from mmdet.evaluation import CocoMetric
    ds = CocoDataset(
        data_root=medium,
        ann_file='annotations/val.json',
        data_prefix=dict(img='val/'),
        metainfo=dict(classes=CLASSES),
        test_mode=True,
        pipeline=[])
    assert len(ds) == 40
    metric = CocoMetric(
        ann_file=osp.join(medium, 'annotations', 'val.json'), metric='bbox')
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        boxes = [inst['bbox'] for inst in info['instances']]
        labels = [inst['bbox_label'] for inst in info['instances']]
        samples.append(
            dict(
                img_id=info['img_id'],
                ori_shape=(info['height'], info['width']),
                pred_instances=dict(
                    bboxes=torch.tensor(boxes).reshape(-1, 4).float(),
                    scores=torch.ones(len(boxes)),
                    labels=torch.tensor(labels, dtype=torch.long))))
    metric.process({}, samples)
    result = metric.evaluate(len(samples))
    assert result['coco/bbox_mAP'] == pytest.approx(1.0)


@pytest.mark.parametrize('kwargs', [
    dict(image_size=32),
    dict(max_objects=0),
    dict(num_train=-1),
])
def test_bad_arguments_are_rejected(tmp_path, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        generate_digits_coco(str(tmp_path), **kwargs)
