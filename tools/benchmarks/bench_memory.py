"""Peak memory per (anchor, class) entry of each loss, at COCO scale.

Forward + backward of each loss module on ``[anchors, 80]`` float32 logits
at RetinaNet's initial scores (the classifier's prior bias
``-log((1 - 0.01) / 0.01)`` plus small noise: every score sits near every
other, so the ranking losses keep almost every negative), with about one
positive anchor in 1,000 and 2 % of the anchors ignored. Each case runs in
a fresh process; its peak is the growth of the resident high-water mark
(``ru_maxrss``) over the level after the inputs were built, so the input
gradient counts and the inputs do not. Two calls per case (buffers a loss
keeps between calls count). Every array above 128 KiB is mapped and
unmapped on its own (``MALLOC_MMAP_THRESHOLD_``), so that memory freed
while the inputs were built is not reused below the baseline. mmdet's
``FocalLoss`` (its CPU path, ``py_sigmoid_focal_loss``) is the reference.

Usage:
    python tools/benchmarks/bench_memory.py              # 8M and 32M
    python tools/benchmarks/bench_memory.py --sizes 2    # millions
"""
import argparse
import math
import os
import sys

from mmdet_lossplus_tools.benchmarks.bench_common import (rss_mb,
                                                          run_in_fresh_process)

C = 80
CASES = ('focal', 'ghmc', 'ghmc_fresh', 'ap', 'rs', 'alrp')
NAMES = dict(
    focal='FocalLoss (mmdet)',
    ghmc='GHMC (CPU: 3 buffers kept between calls)',
    ghmc_fresh='GHMC (fresh buffers, as on CUDA)',
    ap='APLoss',
    rs='RankSortLoss',
    alrp='aLRPLoss')
GOALS = dict(ghmc=16, ghmc_fresh=16, ap=24, rs=24, alrp=24)


def make_inputs(entries: int, seed: int = 0):
    """``(logits [A, C], labels [A], label weights [A], IoUs [A],
    localisation errors [P])`` at RetinaNet's initial scores."""
    import torch
    g = torch.Generator().manual_seed(seed)
    anchors = entries // C
    prior = -math.log((1 - 0.01) / 0.01)
    pred = prior + 0.05 * torch.randn(anchors, C, generator=g)
    labels = torch.full((anchors, ), C)
    num_pos = max(anchors // 1000, 1)
    idx = torch.randperm(anchors, generator=g)[:num_pos]
    labels[idx] = torch.randint(0, C, (num_pos, ), generator=g)
    weights = (torch.rand(anchors, generator=g) > 0.02).float()
    weights[idx] = 1.0
    ious = torch.rand(anchors, generator=g) * 0.9 + 0.05
    loc = torch.rand(num_pos, generator=g)
    return pred, labels, weights, ious, loc


def build_loss(case: str):
    if case == 'focal':
        from mmdet.models.losses import FocalLoss
        return FocalLoss(use_sigmoid=True)
    from mmdet_lossplus.losses import GHMC, APLoss, RankSortLoss, aLRPLoss
    if case == 'ghmc_fresh':
        loss = GHMC(bins=30, momentum=0.75)
        loss.scratch.enabled = False
        return loss
    return dict(
        ghmc=lambda: GHMC(bins=30, momentum=0.75),
        ap=APLoss,
        rs=RankSortLoss,
        alrp=lambda: aLRPLoss(sb_interval=10**9))[case]()


def run_case(case: str, entries: int, threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    loss = build_loss(case)  # imports outside the peak
    pred, labels, weights, ious, loc = make_inputs(entries)
    base = rss_mb()
    for _ in range(2):
        x = pred.clone().requires_grad_()
        if case in ('focal', 'ghmc', 'ghmc_fresh', 'ap'):
            value = loss(x, labels, weights)
        elif case == 'rs':
            value = sum(loss(x, (labels, ious), weights))
        else:
            errors = loc.clone().requires_grad_()
            value = sum(loss(x, labels, weights, loc_errors=errors))
        value.backward()
        del x, value
    n = pred.numel()
    return dict(peak_bytes_per_entry=(rss_mb() - base) * 2**20 / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--sizes',
        type=float,
        nargs='+',
        default=[8, 32],
        help='millions of (anchor, class) entries')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--case', help=argparse.SUPPRESS)
    parser.add_argument('--entries', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        import json
        print(json.dumps(run_case(args.case, args.entries, args.threads)))
        return
    # glibc otherwise raises its mmap threshold after the first large
    # free and keeps freed memory resident: growth would be undercounted
    os.environ['MALLOC_MMAP_THRESHOLD_'] = str(1 << 17)
    sizes = [int(s * 1e6) for s in args.sizes]
    table = {}
    for n in sizes:
        for case in CASES:
            print(
                f'... {NAMES[case]} at {n / 1e6:g}M',
                file=sys.stderr,
                flush=True)
            table[case, n] = run_in_fresh_process(__file__, [
                '--case', case, f'--entries={n}', f'--threads={args.threads}'
            ])['peak_bytes_per_entry']
    print('\nPeak resident growth of forward + backward (2 calls, input '
          'gradient included) per (anchor, class) entry, float32 logits at '
          "RetinaNet's initial scores, CPU\n")
    head = ' | '.join(f'{n / 1e6:g}M entries: B/entry (x focal)'
                      for n in sizes)
    print(f'| loss | {head} | goal B/entry |')
    print('|---' * (len(sizes) + 2) + '|')
    for case in CASES:
        cells = ' | '.join(
            f'{table[case, n]:.1f} ({table[case, n] / table["focal", n]:.2f}x)'
            for n in sizes)
        print(f'| {NAMES[case]} | {cells} | {GOALS.get(case, "-")} |')


if __name__ == '__main__':
    main()
