"""GHM-C / GHM-R speed and memory: ours vs mmdet's, on CPU, in one run.

Each measurement runs in a fresh subprocess so that its peak resident
memory (``ru_maxrss`` above the level after building the inputs) is its own.
Time is the median of ``--repeats`` forward+backward passes after three
warm-up passes; the whole set of cases is run ``--rounds`` times and every
ratio is taken between numbers of the same round (this VM's timings drift
by tens of percent between minutes).

Usage:
    python tools/benchmarks/bench_ghm.py            # docs/benchmarks.md
    python tools/benchmarks/bench_ghm.py --quick    # smaller, seconds
"""
import argparse
import json
import statistics
import sys
import time

from mmdet_lossplus_tools.benchmarks.bench_common import (rss_mb,
                                                          run_in_fresh_process,
                                                          spread)

CASES = {
    # name: (input, implementation)
    'ghmc_mmdet': ('cls', 'mmdet'),
    'ghmc_ours': ('cls', 'ours'),
    'bce_plain': ('cls', 'bce'),
    'ghmr_mmdet': ('reg', 'mmdet'),
    'ghmr_ours': ('reg', 'ours'),
    # detector-like inputs (see _inputs)
    'ghmc_mmdet_det': ('cls_det', 'mmdet'),
    'ghmc_ours_det': ('cls_det', 'ours'),
    'bce_plain_det': ('cls_det', 'bce'),
    'ghmr_mmdet_det': ('reg_det', 'mmdet'),
    'ghmr_ours_det': ('reg_det', 'ours'),
}


def _inputs(kind: str, anchors: int, classes: int, reg_rows: int):
    """``(pred, target, weight)`` of one case.

    'cls'/'reg': the issue's random inputs (logits N(0, 4), labels uniform
    over the classes and background, 10 % of anchors ignored; residuals of
    N(0, 0.04) targets, all weights 1). '*_det': like a RetinaNet batch -
    1 % of anchors positive, logits of easy negatives around -6 (99 % of
    the gradient norms below 0.1, most of them in bin 0), 2 % ignored, and
    regression weights 1 only on the positives' rows (mmdet's heads pass
    every anchor with weight 0 on negatives).
    """
    import torch
    g = torch.Generator().manual_seed(0)
    if kind.startswith('cls'):
        if kind == 'cls':
            pred = torch.randn(anchors, classes, generator=g) * 2
            labels = torch.randint(0, classes + 1, (anchors, ), generator=g)
            weights = (torch.rand(anchors, generator=g) > 0.1).float()
            return pred, labels, weights
        pred = torch.randn(anchors, classes, generator=g) * 1.5 - 6
        pos = torch.rand(anchors, generator=g) < 0.01
        labels = torch.where(
            pos, torch.randint(0, classes, (anchors, ), generator=g), classes)
        rows = torch.nonzero(pos).flatten()
        pred[rows, labels[rows]] = torch.randn(rows.numel(), generator=g) + 1
        weights = (torch.rand(anchors, generator=g) > 0.02).float()
        return pred, labels, weights
    pred = torch.randn(reg_rows, 4, generator=g) * 0.2
    target = torch.randn(reg_rows, 4, generator=g) * 0.2
    if kind == 'reg':
        return pred, target, torch.ones(reg_rows, 4)
    pos = (torch.rand(reg_rows, 1, generator=g) < 0.01).float()
    return pred, target, pos.expand(reg_rows, 4).contiguous()


_WARM_UP = 3


def run_case(name: str, anchors: int, classes: int, reg_rows: int,
             repeats: int, threads: int) -> dict:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    kind, impl = CASES[name]
    pred, labels, weights = _inputs(kind, anchors, classes, reg_rows)
    if kind.startswith('cls'):
        if impl == 'mmdet':
            from mmdet.models.losses import GHMC
            loss = GHMC(bins=30, momentum=0.75)
        elif impl == 'ours':
            from mmdet_lossplus.losses import GHMC
            loss = GHMC(bins=30, momentum=0.75)
        else:
            onehot = F.one_hot(labels, classes + 1)[:, :classes].float()

            def loss(x, _labels, w):
                return F.binary_cross_entropy_with_logits(
                    x, onehot, w[:, None].expand_as(x))
    elif impl == 'mmdet':
        from mmdet.models.losses import GHMR
        loss = GHMR(mu=0.02, bins=10, momentum=0.7)
    else:
        from mmdet_lossplus.losses import GHMR
        loss = GHMR(mu=0.02, bins=10, momentum=0.7)
    base = rss_mb()
    times = []
    first = None
    for i in range(repeats + _WARM_UP):
        x = pred.clone().requires_grad_()
        start = time.perf_counter()
        value = loss(x, labels, weights)
        value.backward()
        elapsed = time.perf_counter() - start
        if i >= _WARM_UP:
            times.append(elapsed)
        elif i == 0:
            first = elapsed
        del x, value
    return dict(
        case=name,
        ms=1e3 * statistics.median(times),
        first_s=first,
        peak_mb=max(rss_mb() - base, 0.0))


def _child(args, name: str) -> dict:
    return run_in_fresh_process(__file__, [
        '--case', name, f'--anchors={args.anchors}',
        f'--classes={args.classes}', f'--reg-rows={args.reg_rows}',
        f'--repeats={args.repeats}', f'--threads={args.threads}'
    ])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--anchors', type=int, default=25000)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--reg-rows', type=int, default=400000)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='times every case is run, each in a fresh process; ratios are '
        'taken within a round')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='2,500 anchors and 40,000 rows, 2 repeats, 1 round')
    parser.add_argument('--case', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.anchors, args.reg_rows, args.repeats = 2500, 40000, 2
        args.rounds = 1
    return args


def measure_rounds(args: argparse.Namespace) -> list:
    """Every case in a fresh process, ``args.rounds`` times."""
    rounds = []
    for k in range(args.rounds):
        result = {}
        for name in CASES:
            print(
                f'... round {k + 1}/{args.rounds}: {name}',
                file=sys.stderr,
                flush=True)
            result[name] = _child(args, name)
        rounds.append(result)
    return rounds


def print_table(args: argparse.Namespace, rounds: list) -> None:
    """The markdown table of docs/benchmarks.md."""

    def ms(name):
        return statistics.median(r[name]['ms'] for r in rounds)

    def peak(name):
        return max(r[name]['peak_mb'] for r in rounds)

    def ratios(num, den):
        return [r[num]['ms'] / r[den]['ms'] for r in rounds]

    n_cls = args.anchors * args.classes
    print(f'\nGHM forward+backward on CPU ({args.threads} threads): '
          f'{args.rounds} rounds of fresh processes, each the median of '
          f'{args.repeats} steps after 3 warm-up steps; times are medians '
          'over rounds, ratios median (min-max) of the per-round ratios; '
          'peak = largest resident memory growth\n')
    print('| loss | input | mmdet ms | ours ms | speed-up | plain BCE ms | '
          'ours / BCE | mmdet peak MB | ours peak MB |')
    print('|---|---|---|---|---|---|---|---|---|')
    rows = (('ghmc', '', 'GHM-C bins=30 m=0.75',
             f'{args.anchors:,} x {args.classes} = {n_cls:,} logits'),
            ('ghmr', '', 'GHM-R bins=10 m=0.7',
             f'{args.reg_rows:,} x 4 targets'),
            ('ghmc', '_det', 'GHM-C, detector-like',
             'same size, 1 % positives, easy negatives'),
            ('ghmr', '_det', 'GHM-R, detector-like',
             'same size, weights 1 on 1 % of rows'))
    for kind, suffix, title, inp in rows:
        ref, ours = f'{kind}_mmdet{suffix}', f'{kind}_ours{suffix}'
        bce = f'bce_plain{suffix}'
        vs_bce = (f'{ms(bce):.1f} | {spread(ratios(ours, bce))}'
                  if kind == 'ghmc' else '- | -')
        print(f'| {title} | {inp} | {ms(ref):.1f} | {ms(ours):.1f} '
              f'| {spread(ratios(ref, ours))} | {vs_bce} | '
              f'{peak(ref):.0f} | {peak(ours):.0f} |')
    print('\nfirst call (ms; ours allocates its reused buffers here): ' +
          ', '.join(f'{name} {1e3 * rounds[0][name]["first_s"]:.1f}'
                    for name in CASES))


def main() -> None:
    args = parse_args()
    if args.case:  # child process
        print(
            json.dumps(
                run_case(args.case, args.anchors, args.classes, args.reg_rows,
                         args.repeats, args.threads)))
        return
    print_table(args, measure_rounds(args))


if __name__ == '__main__':
    main()
