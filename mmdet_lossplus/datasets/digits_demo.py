"""A small, offline, deterministic detection data set in COCO format.

Handwritten digits from scikit-learn's bundled ``load_digits`` (1797 images
of 8x8 pixels, 10 classes) are upscaled to 12-44 px, rotated by a random
angle over the full circle, tinted, and pasted onto cluttered backgrounds
(colour gradients, noise, strokes and blobs that are not digits). Images hold
0-6 objects, some of them overlapping; about 8% hold none.

Besides the usual COCO fields each annotation carries ``angle``: the
rotation of the digit in radians in ``[-pi, pi)``, counter-clockwise as seen
on screen (image y axis pointing down), 0 meaning upright. Digits such as
0, 1 and 8 look alike under a half turn, and 6 and 9 swap: the angle is a
genuinely multimodal target, which is what the multi-bin loss is for.

Train and val use disjoint writers' samples (the first 1400 digits vs the
rest), so val measures generalisation to unseen handwriting.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ..extras import require

CLASSES: Tuple[str, ...] = tuple(str(d) for d in range(10))
_TRAIN_DIGITS = 1400  # samples [0, 1400) feed train, the rest feed val


def _load_digits() -> Tuple[np.ndarray, np.ndarray]:
    datasets = require('sklearn.datasets', 'the digits demo data')
    digits = datasets.load_digits()
    return digits.images.astype(np.float32) / 16.0, digits.target


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A cluttered ``[size, size, 3]`` float background in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0.35, 0.95, 3), rng.uniform(0.35, 0.95, 3)
    t = (
        np.cos(rng.uniform(0, 2 * np.pi)) * xx +
        np.sin(rng.uniform(0, 2 * np.pi)) * yy)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img = np.ascontiguousarray(img, dtype=np.float32)
    # Clutter: straight strokes, arcs and blobs, which a detector must
    # learn to ignore.
    for _ in range(rng.integers(3, 9)):
        colour = tuple(float(v) for v in rng.uniform(0.0, 1.0, 3))
        kind = rng.integers(0, 3)
        p = rng.integers(0, size, 2)
        if kind == 0:
            q = rng.integers(0, size, 2)
            cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q),
                     colour, int(rng.integers(1, 3)), cv2.LINE_AA)
        elif kind == 1:
            axes = tuple(int(v) for v in rng.integers(4, size // 4, 2))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(img, tuple(int(v) for v in p), axes,
                        float(rng.uniform(0, 180)), start,
                        start + float(rng.uniform(60, 200)), colour, 1,
                        cv2.LINE_AA)
        else:
            cv2.circle(img, tuple(int(v) for v in p), int(rng.integers(2, 7)),
                       colour, -1, cv2.LINE_AA)
    img += rng.normal(0.0, 0.04, img.shape).astype(np.float32)
    return img


def _rotated_digit(glyph: np.ndarray, scale: int, angle: float) -> np.ndarray:
    """Upscale an 8x8 glyph to ``scale`` px and rotate it by ``angle``.

    Returns an alpha mask on a canvas large enough for any rotation.
    """
    big = cv2.resize(glyph, (scale, scale), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0.0, 1.0)
    side = int(math.ceil(scale * math.sqrt(2))) + 2
    canvas = np.zeros((side, side), np.float32)
    off = (side - scale) // 2
    canvas[off:off + scale, off:off + scale] = big
    centre = ((side - 1) / 2.0, (side - 1) / 2.0)
    # cv2 angles are counter-clockwise on screen for positive degrees.
    mat = cv2.getRotationMatrix2D(centre, math.degrees(angle), 1.0)
    return cv2.warpAffine(canvas, mat, (side, side), flags=cv2.INTER_LINEAR)


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) -
             inter)
    return inter / union if union > 0 else 0.0


def render_image(rng: np.random.Generator, glyphs: np.ndarray,
                 targets: np.ndarray, size: int,
                 max_objects: int) -> Tuple[np.ndarray, List[Dict]]:
    """Render one image and its objects.

    Args:
        rng: Source of randomness (fixes the output entirely).
        glyphs: ``[M, 8, 8]`` digit images in [0, 1] to draw from.
        targets: ``[M]`` digit classes.
        size: Output side in pixels.
        max_objects: Upper bound on the number of digits.

    Returns:
        ``[size, size, 3]`` uint8 BGR image and a list of objects with
        ``bbox`` (xyxy floats), ``label`` and ``angle``.
    """
    img = _background(rng, size)
    objects: List[Dict] = []
    n = 0 if rng.random() < 0.08 else int(rng.integers(1, max_objects + 1))
    for _ in range(n):
        for _attempt in range(20):
            k = int(rng.integers(0, len(glyphs)))
            scale = int(rng.integers(12, 45))
            angle = float(rng.uniform(-math.pi, math.pi))
            alpha = _rotated_digit(glyphs[k], scale, angle)
            side = alpha.shape[0]
            ys, xs = np.nonzero(alpha > 0.25)
            if len(xs) == 0:
                break  # an empty glyph; skip this object
            x0 = int(rng.integers(-xs.min(), size - xs.max()))
            y0 = int(rng.integers(-ys.min(), size - ys.max()))
            box = np.array([
                x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1,
                y0 + ys.max() + 1
            ], np.float64)
            # Some overlap is allowed (IoU <= 0.3), heavy occlusion is not.
            if all(_box_iou(box, o['bbox']) <= 0.3 for o in objects):
                break
        else:
            continue
        if len(xs) == 0:
            continue
        colour = rng.uniform(0.0, 1.0, 3).astype(np.float32)
        # Keep ink distinguishable from the local background.
        ys0, ys1 = max(y0, 0), min(y0 + side, size)
        xs0, xs1 = max(x0, 0), min(x0 + side, size)
        local = img[ys0:ys1, xs0:xs1].reshape(-1, 3).mean(0)
        if np.abs(colour - local).sum() < 0.9:
            colour = np.where(local > 0.5, 0.05, 0.95).astype(np.float32)
        a = alpha[ys0 - y0:ys1 - y0, xs0 - x0:xs1 - x0, None]
        img[ys0:ys1, xs0:xs1] = img[ys0:ys1, xs0:xs1] * (1 - a) + colour * a
        objects.append(dict(bbox=box, label=int(targets[k]), angle=angle))
    out = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out, objects


def _coco_dict(records: List[Tuple[str, List[Dict]]], size: int) -> Dict:
    images: List[Dict] = []
    annotations: List[Dict] = []
    for img_id, (file_name, objects) in enumerate(records, start=1):
        images.append(
            dict(id=img_id, file_name=file_name, width=size, height=size))
        for obj in objects:
            x1, y1, x2, y2 = (float(v) for v in obj['bbox'])
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=obj['label'] + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    iscrowd=0,
                    angle=obj['angle']))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    return dict(
        info=dict(description='mmdet_lossplus rotated-digits demo'),
        images=images,
        annotations=annotations,
        categories=categories)


def generate_digits_coco(out_dir: str,
                         num_train: int = 3000,
                         num_val: int = 200,
                         image_size: int = 128,
                         max_objects: int = 6,
                         seed: int = 0) -> Dict[str, str]:
    """Write the demo data set under ``out_dir``.

    Layout: ``{train,val}/*.png`` and ``annotations/{train,val}.json``.
    The same arguments always give byte-identical files.

    Args:
        out_dir: Destination directory (created).
        num_train: Number of train images.
        num_val: Number of val images.
        image_size: Side of the square images in pixels (>= 64).
        max_objects: Maximum digits per image (>= 1).
        seed: Seed of the generator.

    Returns:
        Paths of the two annotation files, keyed ``'train'`` and ``'val'``.
    """
    if image_size < 64:
        raise ValueError(f'image_size must be >= 64, got {image_size}')
    if max_objects < 1:
        raise ValueError(f'max_objects must be >= 1, got {max_objects}')
    if num_train < 0 or num_val < 0:
        raise ValueError(
            f'num_train and num_val must be >= 0, got {num_train}, {num_val}')
    glyphs, targets = _load_digits()
    splits = dict(
        train=(num_train, slice(0, _TRAIN_DIGITS), seed),
        val=(num_val, slice(_TRAIN_DIGITS, None), seed + 1))
    paths = {}
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    for split, (count, src, split_seed) in splits.items():
        rng = np.random.default_rng(split_seed)
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        records = []
        for i in range(count):
            img, objects = render_image(rng, glyphs[src], targets[src],
                                        image_size, max_objects)
            name = f'{i:06d}.png'
            cv2.imwrite(osp.join(out_dir, split, name), img)
            records.append((name, objects))
        paths[split] = osp.join(out_dir, 'annotations', f'{split}.json')
        with open(paths[split], 'w') as f:
            json.dump(_coco_dict(records, image_size), f)
    return paths
