"""IoU-family losses and DIoU-NMS on CPU: ours vs mmdet/mmcv, one run.

Losses: forward+backward of the element losses summed, ours vs mmdet's
functions (same inputs, box pairs of a detector's positives). NMS: ours
(DIoU criterion, and with ``use_distance=False`` the plain IoU one) vs
mmcv's compiled CPU ``nms`` on detector-like boxes (jittered copies around
objects, distinct scores). Times are medians of ``--repeats`` after one
warm-up; ratios compare numbers measured in this run.

Usage:
    python tools/benchmarks/bench_iou.py           # docs/benchmarks.md
    python tools/benchmarks/bench_iou.py --quick   # seconds
"""
import argparse
import importlib
import statistics
import sys
import time

import torch


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def box_pairs(n: int):
    g = torch.Generator().manual_seed(0)
    c = torch.rand(n, 2, generator=g) * 800
    s = torch.rand(n, 2, generator=g) * 200 + 8
    target = torch.cat([c - s / 2, c + s / 2], 1)
    pc = c + torch.randn(n, 2, generator=g) * s * 0.2
    ps = s * torch.exp(0.3 * torch.randn(n, 2, generator=g))
    return torch.cat([pc - ps / 2, pc + ps / 2], 1), target


def detections(n: int, n_objects: int):
    g = torch.Generator().manual_seed(1)
    centre = torch.rand(n_objects, 2, generator=g) * 1000
    size = torch.rand(n_objects, 2, generator=g) * 100 + 10
    k = torch.randint(0, n_objects, (n, ), generator=g)
    c = centre[k] + torch.randn(n, 2, generator=g) * size[k] * 0.15
    s = size[k] * (1 + 0.15 * torch.randn(n, 2, generator=g)).clamp(min=0.3)
    scores = torch.randperm(n, generator=g).float() / n
    return torch.cat([c - s / 2, c + s / 2], 1), scores


def bench_losses(n: int, repeats: int) -> None:
    # the package exports a function of the module's name: import the module
    mm = importlib.import_module('mmdet.models.losses.iou_loss')

    from mmdet_lossplus.functional import iou_losses as ours
    pred, target = box_pairs(n)

    def fwd_bwd(fn):

        def run():
            x = pred.clone().requires_grad_(True)
            fn(x, target).sum().backward()

        return run

    rows = [
        ('GIoU', lambda p, t: mm.giou_loss(p, t, reduction='none'),
         ours.giou_loss),
        ('DIoU', lambda p, t: mm.diou_loss(p, t, reduction='none'),
         ours.diou_loss),
        ('CIoU gated alpha', lambda p, t: mm.ciou_loss(p, t, reduction='none'),
         lambda p, t: ours.ciou_loss(p, t, alpha='gated')),
        ('CIoU paper alpha', None, ours.ciou_loss),
    ]
    mm_ciou = None
    print(f'\nBox losses, forward+backward of {n:,} pairs on CPU '
          f'({torch.get_num_threads()} threads), median of {repeats}\n')
    print('| loss | mmdet ms | ours ms | ours / mmdet |')
    print('|---|---|---|---|')
    for name, theirs, mine in rows:
        t_ours = median_ms(fwd_bwd(mine), repeats)
        if theirs is None:
            print(f'| {name} | - (mmdet has only the gated one) | '
                  f'{t_ours:.1f} | {t_ours / mm_ciou:.2f}x of mmdet gated |')
            continue
        t_mm = median_ms(fwd_bwd(theirs), repeats)
        if name.startswith('CIoU'):
            mm_ciou = t_mm
        print(f'| {name} | {t_mm:.1f} | {t_ours:.1f} | {t_ours / t_mm:.2f}x |')


def bench_nms(n: int, n_objects: int, repeats: int) -> None:
    from mmcv.ops import nms

    from mmdet_lossplus.functional.diou_nms import diou_nms
    boxes, scores = detections(n, n_objects)
    print(f'\nNMS of {n:,} boxes around {n_objects} objects on CPU, '
          f'median of {repeats}\n')
    print('| IoU threshold | kept (mmcv) | mmcv nms ms | ours, IoU ms | '
          'same keep | ours, DIoU ms | kept (DIoU) | DIoU / mmcv |')
    print('|---|---|---|---|---|---|---|---|')
    for thr in (0.3, 0.5, 0.7):
        _, keep_mm = nms(boxes, scores, thr)
        _, keep_iou = diou_nms(boxes, scores, thr, use_distance=False)
        _, keep_diou = diou_nms(boxes, scores, thr)
        t_mm = median_ms(lambda: nms(boxes, scores, thr), repeats)
        t_iou = median_ms(
            lambda: diou_nms(boxes, scores, thr, use_distance=False), repeats)
        t_diou = median_ms(lambda: diou_nms(boxes, scores, thr), repeats)
        same = 'yes' if torch.equal(keep_mm, keep_iou) else 'NO'
        print(f'| {thr} | {keep_mm.numel():,} | {t_mm:.1f} | {t_iou:.1f} | '
              f'{same} | {t_diou:.1f} | {keep_diou.numel():,} | '
              f'{t_diou / t_mm:.2f}x |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pairs', type=int, default=100000)
    parser.add_argument('--boxes', type=int, default=10000)
    parser.add_argument('--objects', type=int, default=300)
    parser.add_argument('--repeats', type=int, default=9)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='10,000 pairs, 2,000 boxes, 2 repeats')
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.boxes, args.objects, args.repeats = (10000, 2000, 60,
                                                              2)
    torch.set_num_threads(args.threads)
    print('... box losses', file=sys.stderr, flush=True)
    bench_losses(args.pairs, args.repeats)
    print('... NMS', file=sys.stderr, flush=True)
    bench_nms(args.boxes, args.objects, args.repeats)


if __name__ == '__main__':
    main()
