import pytest
import torch
from iou_reference import reference_diou_nms
from mmcv.ops import batched_nms, nms

from mmdet_lossplus.functional.diou_nms import (diou_nms, diou_nms_indices,
                                                pairwise_diou,
                                                suppression_matrix)


def clustered_boxes(n, n_objects=40, seed=0, dtype=torch.float64):
    """Detector-like output: jittered copies around a few objects, distinct
    scores (ties would make the order, hence the result, ambiguous)."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n_objects, 2, generator=g) * 300
    size = torch.rand(n_objects, 2, generator=g) * 60 + 8
    k = torch.randint(0, n_objects, (n, ), generator=g)
    c = centre[k] + torch.randn(n, 2, generator=g) * size[k] * 0.2
    s = size[k] * (1 + 0.2 * torch.randn(n, 2, generator=g)).clamp(min=0.3)
    boxes = torch.cat([c - s / 2, c + s / 2], 1).to(dtype)
    scores = torch.randperm(n, generator=g).to(dtype) / n
    return boxes, scores


def test_occluded_neighbour_survives_diou_but_not_plain_nms():
    # IoU = 60 / 140 = 0.4286; centres 4 apart, enclosing diagonal^2 = 296:
    # DIoU criterion 0.4286 - 16/296 = 0.3745.
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 4., 10., 14.]])
    scores = torch.tensor([0.9, 0.8])
    _, keep_plain = diou_nms(boxes, scores, 0.4, use_distance=False)
    _, keep_diou = diou_nms(boxes, scores, 0.4)
    assert keep_plain.tolist() == [0]
    assert keep_diou.tolist() == [0, 1]
    _, keep_diou = diou_nms(boxes, scores, 0.37)
    assert keep_diou.tolist() == [0]
    crit = pairwise_diou(boxes, boxes)[0, 1].item()
    assert crit == pytest.approx(60 / 140 - 16 / 296, rel=1e-6)


@pytest.mark.parametrize('thr,beta', [(0.3, 1.0), (0.5, 1.0), (0.5, 0.6),
                                      (0.7, 2.0), (-0.2, 1.0)])
def test_equals_loop_reference(thr, beta):
    boxes, scores = clustered_boxes(400, seed=int(thr * 10 + beta))
    ref = reference_diou_nms(boxes, scores, thr, beta)
    # a small block size exercises the inter-block path many times
    for block in (7, 64, 512):
        got = diou_nms_indices(boxes, scores, thr, beta, block_size=block)
        assert got.tolist() == ref, block


def test_class_aware_equals_loop_reference():
    boxes, scores = clustered_boxes(400, seed=11)
    idxs = torch.randint(
        0, 3, (400, ), generator=torch.Generator().manual_seed(1))
    ref = reference_diou_nms(boxes, scores, 0.5, 1.0, idxs=idxs)
    got = diou_nms_indices(boxes, scores, 0.5, 1.0, idxs=idxs, block_size=50)
    assert got.tolist() == ref
    # through mmcv's batched_nms with our function as the op
    _, keep = batched_nms(boxes.float(), scores.float(), idxs,
                          dict(type=diou_nms, iou_threshold=0.5, beta=1.0))
    assert sorted(keep.tolist()) == sorted(ref)


@pytest.mark.parametrize('thr', [0.3, 0.5, 0.7])
def test_without_distance_equals_mmcv_nms(thr):
    boxes, scores = clustered_boxes(
        3000, n_objects=150, seed=3, dtype=torch.float32)
    dets_ref, keep_ref = nms(boxes, scores, thr)
    dets, keep = diou_nms(boxes, scores, thr, use_distance=False)
    assert torch.equal(keep, keep_ref)
    assert torch.equal(dets, dets_ref)
    assert 100 < keep.numel() < 2900  # suppression really happened


def test_score_threshold_and_max_num_like_mmcv():
    boxes, scores = clustered_boxes(500, seed=4, dtype=torch.float32)
    for kw in (dict(score_threshold=0.3), dict(max_num=20),
               dict(score_threshold=0.5, max_num=7)):
        dets_ref, keep_ref = nms(boxes, scores, 0.5, **kw)
        dets, keep = diou_nms(boxes, scores, 0.5, use_distance=False, **kw)
        assert torch.equal(keep, keep_ref), kw
        assert torch.equal(dets, dets_ref), kw


def test_half_boxes_and_empty_input():
    boxes, scores = clustered_boxes(300, seed=5, dtype=torch.float32)
    keep32 = diou_nms_indices(boxes, scores, 0.5)
    keep16 = diou_nms_indices(boxes.half(), scores.half(), 0.5)
    assert keep16.dtype == torch.int64 and keep16.numel() > 0
    ref16 = reference_diou_nms(boxes.half().float(), scores.half(), 0.5)
    assert keep16.tolist() == ref16
    assert keep32.numel() > 0
    dets, keep = diou_nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert dets.shape == (0, 5) and keep.shape == (0, )


def test_suppression_matrix_sparse_path_equals_dense():
    boxes, _ = clustered_boxes(300, seed=6)
    for thr in (0.0, 0.4):
        dense = pairwise_diou(boxes[:120], boxes[120:]) > thr
        sparse = suppression_matrix(boxes[:120], boxes[120:], thr)
        assert torch.equal(dense, sparse)


def test_errors_name_the_argument():
    b, s = torch.zeros(3, 4), torch.zeros(3)
    with pytest.raises(ValueError, match='boxes must have shape'):
        diou_nms(torch.zeros(3, 5), s, 0.5)
    with pytest.raises(ValueError, match='scores must have shape'):
        diou_nms(b, torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match='iou_threshold'):
        diou_nms(b, s, 1.5)
    with pytest.raises(ValueError, match='beta'):
        diou_nms(b, s, 0.5, beta=0)
    with pytest.raises(ValueError, match='idxs must have shape'):
        diou_nms(b, s, 0.5, idxs=torch.zeros(2))
