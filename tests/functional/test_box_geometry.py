"""Box-pair geometry shared by the IoU losses, DIoU-NMS and the metric:
hand-computed values, broadcasting, degenerate boxes."""
import torch

from mmdet_lossplus.functional.box_geometry import (box_sizes,
                                                    centre_distance2, corners,
                                                    enclosing_size,
                                                    intersection_union)


def _iu(a, b):
    ca, cb = corners(a), corners(b)
    return intersection_union(ca, cb, box_sizes(ca), box_sizes(cb))


def test_hand_computed_pair():
    # a = [0, 0, 4, 2] (area 8), b = [2, 1, 6, 5] (area 16), overlap 2 x 1
    a = torch.tensor([0., 0., 4., 2.])
    b = torch.tensor([2., 1., 6., 5.])
    inter, union = _iu(a, b)
    assert inter.item() == 2.0 and union.item() == 22.0
    assert [t.item()
            for t in enclosing_size(corners(a), corners(b))] == [6.0, 5.0]
    # centres (2, 1) and (4, 3): rho^2 = 8
    assert centre_distance2(corners(a), corners(b)).item() == 8.0
    assert [t.item() for t in box_sizes(corners(a))] == [4.0, 2.0]


def test_disjoint_inverted_and_point_boxes():
    a = torch.tensor([[0., 0., 1., 1.], [3., 3., 1., 1.], [2., 2., 2., 2.]])
    b = torch.tensor([[5., 5., 6., 6.], [0., 0., 4., 4.], [0., 0., 4., 4.]])
    inter, union = _iu(a, b)
    assert inter.tolist() == [0.0, 0.0, 0.0]  # inverted: zero width
    assert union.tolist() == [2.0, 16.0, 16.0]
    w, h = enclosing_size(corners(a), corners(b))
    assert w.tolist() == [6.0, 4.0, 4.0] and h.tolist() == [6.0, 4.0, 4.0]


def test_pairwise_by_broadcasting_equals_aligned_pairs():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(5, 2, generator=g) * 10
    boxes = torch.cat([xy, xy + torch.rand(5, 2, generator=g) * 5 + 1], 1)
    inter, union = _iu(boxes[:, None], boxes[None])
    for i in range(5):
        for j in range(5):
            ai, ui = _iu(boxes[i], boxes[j])
            assert inter[i, j] == ai and union[i, j] == ui
    # a box with itself: intersection = union = area
    assert torch.equal(inter.diagonal(), union.diagonal())
