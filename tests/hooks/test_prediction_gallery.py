import numpy as np
import pytest

from mmdet_lossplus.hooks import PredictionGalleryHook
from mmdet_lossplus.hooks.prediction_gallery import (draw_detections,
                                                     tile_images)


def test_draw_detections_paints_only_inside_the_boxes_region():
    image = np.zeros((40, 40, 3), np.uint8)
    out = draw_detections(image, np.array([[5, 5, 20, 20]]), np.array([3]),
                          np.array([0.9]), [str(i) for i in range(10)])
    assert image.sum() == 0, 'the input must not be modified'
    assert out[5, 5:21].any() and out[20, 5:21].any()  # box edges drawn
    assert not out[30:, 30:].any()  # far from the box: untouched


def test_tile_images_layout():
    tiles = [np.full((4, 6, 3), i, np.uint8) for i in range(5)]
    grid = tile_images(tiles, columns=2)
    assert grid.shape == (12, 12, 3)
    assert (grid[0:4, 6:12] == 1).all() and (grid[8:12, 0:6] == 4).all()
    assert (grid[8:12, 6:12] == 255).all()  # the empty slot stays white


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_images=0), 'num_images'),
    (dict(num_images=2.5), 'num_images'),
    (dict(score_thr=1.5), 'score_thr'),
    (dict(score_thr=float('nan')), 'score_thr'),
    (dict(scale=0), 'scale'),
    (dict(scale=-2), 'scale'),
    (dict(out_file=3), 'out_file'),
])
def test_bad_arguments(kwargs, match):
    # at construction, not in after_run at the end of training
    with pytest.raises((ValueError, TypeError), match=match):
        PredictionGalleryHook(**kwargs)
