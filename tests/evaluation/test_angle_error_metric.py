import math

import pytest
import torch

from mmdet_lossplus.evaluation import AngleErrorMetric, match_detections


def _sample(pred_boxes,
            scores,
            labels,
            angles,
            gt_boxes,
            gt_labels,
            gt_angles,
            scale=(1.0, 1.0)):
    return dict(
        scale_factor=scale,
        pred_instances=dict(
            bboxes=torch.tensor(pred_boxes, dtype=torch.float32),
            scores=torch.tensor(scores),
            labels=torch.tensor(labels),
            angles=torch.tensor(angles)),
        gt_instances=dict(
            bboxes=torch.tensor(gt_boxes, dtype=torch.float32),
            labels=torch.tensor(gt_labels),
            angles=torch.tensor(gt_angles)))


def test_matching_is_greedy_by_score_and_class_aware():
    pred = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                         [20., 20., 30., 30.]])
    gt = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    pairs = match_detections(pred, torch.tensor([0.5, 0.9, 0.8]),
                             torch.tensor([0, 0, 1]), gt, torch.tensor([0, 0]),
                             0.5)
    # the 0.9 detection takes the first ground truth; the third has the
    # wrong class for the second
    assert pairs == [(1, 0)]


def test_errors_wrap_around_and_are_reported_in_degrees():
    metric = AngleErrorMetric(score_thr=0.3, iou_thr=0.5)
    a = math.radians(170)
    samples = [
        _sample(
            [[0., 0., 10., 10.], [20., 20., 30., 30.], [40., 40., 50., 50.]],
            [0.9, 0.8, 0.1], [0, 1, 2], [a, 0.1, 0.0],
            [[0., 0., 10., 10.], [20., 20., 30., 30.], [40., 40., 50., 50.]],
            [0, 1, 2], [-a, 0.1 + math.radians(30), 1.0]),
    ]
    metric.process({}, samples)
    # 170 vs -170 degrees: 20 apart across +-180; 30 degrees; the third is
    # below the score threshold
    assert [e for e, _ in metric.results] == pytest.approx([20.0, 30.0],
                                                           abs=1e-3)
    out = metric.compute_metrics(metric.results)
    assert out['mae'] == pytest.approx(25.0)
    assert out['acc15'] == 0.0 and out['matched'] == 2


def test_gt_boxes_are_brought_to_the_original_frame():
    metric = AngleErrorMetric(score_thr=0.0)
    # resized by 2: gt in the resized frame, predictions rescaled back
    metric.process({}, [
        _sample([[0., 0., 10., 10.]], [0.9], [0], [0.5], [[0., 0., 20., 20.]],
                [0], [0.5],
                scale=(2.0, 2.0))
    ])
    assert metric.results[0][0] == pytest.approx(0.0)


def test_missing_angles_is_a_clear_error():
    s = _sample([[0., 0., 1., 1.]], [0.9], [0], [0.0], [[0., 0., 1., 1.]], [0],
                [0.0])
    s['pred_instances'].pop('angles')
    with pytest.raises(ValueError, match='pred_instances.angles'):
        AngleErrorMetric().process({}, [s])


def test_half_turn_symmetric_classes_are_scored_modulo_180():
    metric = AngleErrorMetric(score_thr=0.0, half_turn_labels=[0])
    boxes = [[0., 0., 10., 10.], [20., 20., 30., 30.]]
    metric.process({}, [
        _sample(boxes, [0.9, 0.8], [0, 1], [math.radians(170), 0.0], boxes,
                [0, 1], [0.0, math.radians(170)])
    ])
    out = metric.compute_metrics(metric.results)
    # class 0 (symmetric): 170 -> 10 degrees; class 1 keeps 170
    assert out['mae'] == pytest.approx(170.0)
    assert out['mae_sym'] == pytest.approx(90.0)
    assert out['acc15_sym'] == 0.5 and out['acc15'] == 0.0


@pytest.mark.parametrize('kwargs,error', [
    (dict(score_thr=1.5), ValueError),
    (dict(score_thr='0.3'), TypeError),
    (dict(iou_thr=0.0), ValueError),
    (dict(iou_thr=float('nan')), ValueError),
    (dict(half_turn_labels=[0, 1.5]), TypeError),
    (dict(half_turn_labels='018'), TypeError),
    (dict(half_turn_labels=[-1]), TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match=list(kwargs)[0]):
        AngleErrorMetric(**kwargs)
