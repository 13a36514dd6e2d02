"""mmdet_lossplus/core/targets.py: target conversion, by hand."""
import pytest
import torch

from mmdet_lossplus.core.targets import rank_sort_targets, ranking_labels


def test_ranking_labels_of_class_indices_by_hand():
    pred = torch.zeros(3, 2)
    labels = torch.tensor([1, 2, 0])  # background is 2
    weight = torch.tensor([1.0, 1.0, 0.0])  # the third anchor ignored
    got = ranking_labels(pred, labels, weight)
    assert got.dtype == torch.int8
    assert got.tolist() == [[0, 1], [0, 0], [-1, -1]]


def test_rank_sort_targets_of_mmdet_targets_by_hand():
    pred = torch.zeros(3, 2)
    # anchor 0: class 1 with IoU 0.7; anchor 1: background; anchor 2:
    # class 0 whose IoU target is 0 -> a negative, as the authors'
    cls_labels = torch.tensor([1, 2, 0])
    ious = torch.tensor([0.7, 0.0, 0.0])
    labels, targets, columns = rank_sort_targets(pred, (cls_labels, ious),
                                                 None)
    assert labels.tolist() == [0, 1, 0, 0, 0, 0]
    assert targets.tolist() == pytest.approx([0.7, 0.0, 0.0])
    assert columns == 2
    # the positive's target sits at its anchor: flat index // columns
    pos = (labels == 1).nonzero().squeeze(1)
    assert targets[pos // columns].tolist() == pytest.approx([0.7])


def test_rank_sort_targets_of_the_authors_nc_targets_by_hand():
    pred = torch.zeros(2, 2)
    target = torch.tensor([[0.0, 0.4], [0.9, 0.0]])
    weight = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    labels, targets, columns = rank_sort_targets(pred, target, weight)
    assert labels.tolist() == [0, 1, 1, -1]
    assert targets.tolist() == pytest.approx([0.0, 0.4, 0.9, 0.0])
    assert columns == 1


@pytest.mark.parametrize('target, error, match', [
    ((torch.tensor([0, 1]), ), ValueError, 'got 1 items'),
    ((torch.tensor([0, 1]), torch.tensor([1, 0])), TypeError, 'float'),
    ((torch.tensor([0, 1]), torch.tensor([0.5, 1.5])), ValueError, 'must lie'),
    (torch.zeros(2, 3), TypeError, r'\[N, C\]'),
])
def test_rank_sort_targets_refuse_bad_targets(target, error, match):
    with pytest.raises(error, match=match):
        rank_sort_targets(torch.zeros(2, 2), target, None)
