"""Draw the trained model's predictions on a few val images."""
import os.path as osp
from typing import Any, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.hooks import Hook

from .. import dist
from ..checks import check_int, check_number, check_str
from ..registry import HOOKS
from .loss_inputs import bare_model

# Distinct BGR colours, one per class id (cycled).
_PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25),
                     (0, 130, 200), (245, 130, 48), (145, 30, 180),
                     (70, 240, 240), (240, 50, 230), (210, 245, 60),
                     (250, 190, 212)],
                    dtype=np.uint8)[:, ::-1]


def draw_detections(image: np.ndarray,
                    boxes: np.ndarray,
                    labels: np.ndarray,
                    scores: Optional[np.ndarray],
                    class_names: Sequence[str],
                    thickness: int = 1) -> np.ndarray:
    """Return a copy of a BGR image with boxes and ``name score`` labels.

    Args:
        image: ``[H, W, 3]`` uint8 BGR.
        boxes: ``[K, 4]`` xyxy in image pixels.
        labels: ``[K]`` class ids.
        scores: ``[K]`` confidences, or None for ground truth.
        class_names: Names indexed by class id.
        thickness: Line width in pixels.
    """
    out = image.copy()
    for k, (box, label) in enumerate(zip(boxes, labels)):
        colour = tuple(int(c) for c in _PALETTE[int(label) % len(_PALETTE)])
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = class_names[int(label)]
        if scores is not None:
            text += f' {float(scores[k]):.2f}'
        cv2.putText(out, text, (x1, max(y1 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.3, colour, 1, cv2.LINE_AA)
    return out


def tile_images(images: List[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized ``[H, W, 3]`` images into a grid."""
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    rows = (len(images) + columns - 1) // columns
    grid = np.full((rows * h, columns * w, 3), 255, dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * h:r * h + im.shape[0], c * w:c * w + im.shape[1]] = im
    return grid


@HOOKS.register_module()
class PredictionGalleryHook(Hook):
    """After training, save ``predictions.png``: detections on val images.

    Each tile shows one val image with its detections above
    ``score_thr`` (left) and its ground truth (right). Only rank 0 draws;
    the model forward involves no collective, so other ranks do nothing.

    Args:
        num_images: How many val images to draw (the first ones).
        score_thr: Detections below this confidence are not drawn.
        out_file: File name inside the work dir.
        scale: Upsampling factor (> 0) so small demo images stay legible.
    """

    priority = 'LOW'

    def __init__(self,
                 num_images: int = 8,
                 score_thr: float = 0.3,
                 out_file: str = 'predictions.png',
                 scale: float = 2) -> None:
        check_int('num_images', num_images, 1)
        check_number('score_thr', score_thr, 0, 1)
        check_str('out_file', out_file)
        check_number('scale', scale, low=0, low_open=True)
        self.num_images = num_images
        self.score_thr = score_thr
        self.out_file = out_file
        self.scale = scale

    def after_run(self, runner) -> None:
        if not dist.is_main_process() or (runner.val_loop is None
                                          and runner.test_loop is None):
            return
        loop = runner.val_loop if runner.val_loop is not None \
            else runner.test_loop
        dataset = loop.dataloader.dataset
        collate = loop.dataloader.collate_fn
        model: Any = bare_model(runner.model)  # a detector
        names = dataset.metainfo.get('classes')
        n = min(self.num_images, len(dataset))
        tiles = []
        model.eval()
        with torch.no_grad():
            for idx in range(n):
                data = collate([dataset[idx]])
                sample = model.test_step(data)[0]
                tiles.append(self._draw(sample, names))
        path = osp.join(runner.work_dir, self.out_file)
        cv2.imwrite(path, tile_images(tiles, columns=min(4, n)))
        runner.logger.info(f'predictions on {n} val images: {path}')

    def _draw(self, sample, names: Sequence[str]) -> np.ndarray:
        image = cv2.imread(sample.img_path)
        if image is None:
            raise FileNotFoundError(f'PredictionGalleryHook: cannot read '
                                    f'{sample.img_path}')
        pred = sample.pred_instances
        keep = pred.scores >= self.score_thr
        s = self.scale
        big = cv2.resize(
            image, None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST)
        left = draw_detections(big, pred.bboxes[keep].cpu().numpy() * s,
                               pred.labels[keep].cpu().numpy(),
                               pred.scores[keep].cpu().numpy(), names)
        # Predictions are in original pixels, ground truth in the resized
        # frame of the test pipeline: undo the resize.
        gt = sample.gt_instances
        w_scale, h_scale = sample.metainfo.get('scale_factor', (1.0, 1.0))
        gt_boxes = get_box_tensor(gt.bboxes).cpu().numpy().reshape(-1, 4)
        gt_boxes = gt_boxes / np.array([w_scale, h_scale, w_scale, h_scale])
        right = draw_detections(big, gt_boxes * s,
                                gt.labels.cpu().numpy(), None, names)
        gap = np.full((big.shape[0], 4, 3), 255, dtype=np.uint8)
        return np.concatenate([left, gap, right], axis=1)
