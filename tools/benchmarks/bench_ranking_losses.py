"""Ranking losses (AP-loss, Rank & Sort, aLRP): speed, memory, agreement.

What a head pays: forward + backward of each *module* (targets, checks,
collective-free selection, autograd) on ``[rows, 80]`` logits with P
positive and N negative (anchor, class) entries, against

* the O(P*N) loop over positives of the authors' code (transcribed in
  torch: per positive, vector operations over every example; the update
  they back-propagate), at P = 1,000, N = 200,000; the largest difference
  between its update and our gradient over all P + N entries is printed;
* one ``torch.sort`` of the same P + N scores, at N = 200,000, 2M and 8M;
* peak memory: resident growth of the case in its own process.

Every case runs in a fresh subprocess; ``--rounds`` rounds, each ratio
taken between numbers of the same round, reported as median (min-max).

Usage:
    python tools/benchmarks/bench_ranking_losses.py
    python tools/benchmarks/bench_ranking_losses.py --quick
    python tools/benchmarks/bench_ranking_losses.py --scaling  # see below

``--scaling`` instead counts (not times) what the global mode costs each
rank with 2, 4 and 8 gloo processes (tools/benchmarks/ranking_comm_worker.py)
and extrapolates it to 64 and 512 GPUs.
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
import time

from mmdet_lossplus_tools.benchmarks.bench_common import (rss_mb,
                                                          run_in_fresh_process,
                                                          spread)

C = 80
LOSSES = ('ap', 'rs', 'alrp')
NAMES = dict(ap='APLoss', rs='RankSortLoss', alrp='aLRPLoss')


def make_batch(num_pos: int, num_neg: int, seed: int = 0):
    """``[rows, C]`` logits, class targets with ``num_pos`` positive rows
    (one positive entry each) and ``num_neg`` negative entries in all,
    IoU targets and localisation errors of the positives."""
    import torch
    g = torch.Generator().manual_seed(seed)
    rows = (num_pos + num_neg) // C
    pred = torch.randn(rows, C, generator=g) - 1.0
    labels = torch.full((rows, ), C)
    idx = torch.randperm(rows, generator=g)[:num_pos]
    labels[idx] = torch.randint(0, C, (num_pos, ), generator=g)
    pred[idx, labels[idx]] += 2.0
    ious = torch.rand(rows, generator=g) * 0.9 + 0.05
    loc = torch.rand(num_pos, generator=g) * 1.5
    return pred, labels, ious, loc


def entry_labels(labels):
    import torch
    lab = torch.zeros(labels.numel(), C, dtype=torch.int8)
    pos = labels < C
    lab[torch.arange(labels.numel())[pos], labels[pos]] = 1
    return lab.reshape(-1)


def _h(x, delta):
    return (x / (2 * delta) + 0.5).clamp(0, 1)


def reference_loop(name, pred, labels, ious, loc):
    """The authors' algorithm, one positive at a time (O(P*N)): the
    update of every entry (what they back-propagate)."""
    import torch
    s = pred.double().reshape(-1)
    lab = entry_labels(labels)
    fg = lab == 1
    t = ious.double()[:, None].expand(-1, C).reshape(-1)[fg]
    fgs = s[fg]
    delta = dict(ap=1.0, rs=0.5, alrp=1.0)[name]
    bg_mask = (lab == 0) & (s >= fgs.min() - delta)
    bg = s[bg_mask]
    p = fgs.numel()
    fg_grad = torch.zeros(p, dtype=torch.float64)
    bg_grad = torch.zeros_like(bg)
    errs = torch.zeros(p, dtype=torch.float64)
    loc = loc.double()
    max_prec = 0.0
    for i in torch.argsort(fgs).tolist():
        fr = _h(fgs - fgs[i], delta)
        br = _h(bg - fgs[i], delta)
        fp = br.sum()
        if name == 'rs':
            rank_pos = fr.sum()
            rank = rank_pos + fp
            r_err = fp / rank
            cur = (fr * (1 - t)).sum() / rank_pos
            rel = t >= t[i]
            tso = rel * fr
            s_err = cur - (tso * (1 - t)).sum() / tso.sum()
            errs[i] = r_err + s_err
            if fp > 1e-10:
                fg_grad[i] -= r_err
                bg_grad += br * (r_err / fp)
            mis = (~rel) * fr
            den = mis.sum()
            if den > 1e-10:
                fg_grad[i] -= s_err
                fg_grad += mis * (s_err / den)
            continue
        fr[i] = 0
        rank_pos = 1 + fr.sum()
        rank = rank_pos + fp
        prec = float(rank_pos / rank)
        if name == 'alrp':
            errs[i] = 1 - prec
            if fp > 1e-5:
                fg_grad[i] = -((fr * loc).sum() + fp) / rank
                bg_grad += br * (-fg_grad[i] / fp)
        else:  # AP-loss with interpolated precision
            if max_prec <= prec:
                max_prec = prec
                bg_grad += br / rank
            else:
                bg_grad += br / rank * ((1 - max_prec) / (1 - prec))
            fg_grad[i] = -(1 - max_prec)
            errs[i] = 1 - max_prec
    update = torch.zeros_like(s)
    update[fg] = fg_grad / p
    update[bg_mask] = bg_grad / p
    return update


def module_step(name, pred, labels, ious, loc):
    """Forward + backward of the module; the gradient of the logits."""
    from mmdet_lossplus.losses import APLoss, RankSortLoss, aLRPLoss
    x = pred.clone().requires_grad_()
    if name == 'ap':
        APLoss()(x, labels).backward()
    elif name == 'rs':
        sum(RankSortLoss()(x, (labels, ious))).backward()
    else:
        errors = loc.clone().requires_grad_()
        sum(aLRPLoss(sb_interval=10**9)(x, labels,
                                        loc_errors=errors)).backward()
    return x.grad


def run_case(case: str, num_pos: int, num_neg: int, repeats: int,
             threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    import mmdet_lossplus.losses  # noqa: F401 (imports outside the peak)
    pred, labels, ious, loc = make_batch(num_pos, num_neg)
    base = rss_mb()
    kind, _, name = case.partition(':')
    if kind == 'module':

        def step():
            return module_step(name, pred, labels, ious, loc)
    elif kind == 'reference':

        def step():
            return reference_loop(name, pred, labels, ious, loc)
    else:
        flat = pred.reshape(-1)

        def step():
            return torch.sort(flat)

    times, result = [], None
    for i in range(repeats + 1):  # the first call warms up
        start = time.perf_counter()
        result = step()
        if i > 0:
            times.append(time.perf_counter() - start)
    out = dict(
        ms=1e3 * statistics.median(times), peak_mb=max(rss_mb() - base, 0.0))
    if kind in ('module', 'reference') and num_neg <= 400000:
        out['update'] = result.reshape(-1).double().tolist()
    return out


def child(case, num_pos, num_neg, repeats, threads):
    return run_in_fresh_process(__file__, [
        '--case', case, f'--num-pos={num_pos}', f'--num-neg={num_neg}',
        f'--repeats={repeats}', f'--threads={threads}'
    ])


def speed_tables(args) -> None:
    p = 200 if args.quick else 1000
    n_ref = 40000 if args.quick else 200000
    sizes = [n_ref] + ([400000] if args.quick else [2000000, 8000000])
    refs = {}
    for name in LOSSES:
        print(
            f'... {NAMES[name]} reference loop P={p} N={n_ref}',
            file=sys.stderr,
            flush=True)
        refs[name] = child(f'reference:{name}', p, n_ref, 1, args.threads)
    rounds = {}  # (name, n) -> list of (module, sort) per round
    for r in range(args.rounds):
        for n in sizes:
            print(
                f'... round {r + 1}/{args.rounds}, N={n:,}',
                file=sys.stderr,
                flush=True)
            sort = child('sort', p, n, args.repeats, args.threads)
            for name in LOSSES:
                mod = child(f'module:{name}', p, n, args.repeats, args.threads)
                rounds.setdefault((name, n), []).append((mod, sort))
    print(f'\nForward + backward of each module on CPU ({args.threads} '
          f'threads), P = {p:,} positive entries, [rows, {C}] logits; '
          f'{args.rounds} rounds of fresh processes, each the median of '
          f'{args.repeats} calls; ratios within a round, median (min-max)\n')
    print('| loss | N negatives | reference loop ms | module ms | speed-up | '
          'torch.sort ms | module / sort | module peak MB | '
          'MB per 1M entries |')
    print('|---|---|---|---|---|---|---|---|---|')
    agreement = {}
    for name in LOSSES:
        for n in sizes:
            runs = rounds[(name, n)]
            mod_ms = statistics.median(m['ms'] for m, _ in runs)
            sort_ms = statistics.median(s['ms'] for _, s in runs)
            peak = max(m['peak_mb'] for m, _ in runs)
            ref_ms, speed = '-', '-'
            if n == n_ref:
                ref = refs[name]
                ref_ms = f'{ref["ms"]:.0f}'
                speed = spread([ref['ms'] / m['ms'] for m, _ in runs])
                got = runs[0][0]['update']
                agreement[name] = max(
                    abs(a - b) for a, b in zip(got, ref['update']))
            print(f'| {NAMES[name]} | {n:,} | {ref_ms} | {mod_ms:.1f} | '
                  f'{speed} | {sort_ms:.1f} | '
                  f'{spread([m["ms"] / s["ms"] for m, s in runs])} | '
                  f'{peak:.0f} | {peak / ((n + p) / 1e6):.0f} |')
    print(f'\nagreement with the loop at N = {n_ref:,} (max |gradient - '
          f'update| over all {p + n_ref:,} entries; float32 logits): ' +
          ', '.join(f'{NAMES[k]} {v:.1e}' for k, v in agreement.items()))


def scaling_tables(args) -> None:
    worker = osp.join(
        osp.dirname(osp.abspath(__file__)), 'ranking_comm_worker.py')
    measured = {}
    for world in (2, 4, 8):
        print(f'... {world} gloo processes', file=sys.stderr, flush=True)
        proc = subprocess.run([
            sys.executable, '-m', 'torch.distributed.run', '--standalone',
            f'--nproc_per_node={world}', worker, f'--num-pos={args.comm_pos}',
            f'--num-neg={args.comm_neg}'
        ],
                              capture_output=True,
                              text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
        if proc.returncode or not lines:
            raise SystemExit(f'worker failed:\n{proc.stderr[-3000:]}')
        measured[world] = json.loads(lines[-1])
    print(f'\nGlobal mode, per rank and loss call, counted with W gloo '
          f'processes on this machine: P = {args.comm_pos:,} positive and '
          f'N = {args.comm_neg:,} negative entries in the global batch, '
          'split evenly (ring all-reduce of n bytes: 2 (W-1)/W n each way; '
          'all-gather: the other ranks\' buffers)\n')
    print('| loss | W | collectives | bytes sent | bytes received | '
          'formula (extrapolation below) | positives sorted | '
          'entries placed (binary searches) | '
          'all-gather of every score: bytes received |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name in LOSSES:
        for world, rows in measured.items():
            row = rows[name]
            naive = (world - 1) * (args.comm_pos + args.comm_neg) // world \
                * 5  # float32 score + int8 label
            print(f'| {NAMES[name]} | {world} | {row["collectives"]} | '
                  f'{row["sent"]:,} | {row["received"]:,} | '
                  f'{row["formula_received"]:,} | '
                  f'{row["sorted"]:,} | {row["placed"]:,} | {naive:,} |')
    # Extrapolation, from the message sizes the worker counted (checked
    # against the formula at W = 2, 4, 8 by the worker itself).
    img_per_gpu, pos_img, neg_img = 2, 100, 120000 * C
    print(f'\nExtrapolated to COCO batches ({img_per_gpu} images per GPU, '
          f'~{pos_img} positive anchors and {neg_img // 10**6:.0f}.'
          f'{neg_img // 10**5 % 10}M (anchor, class) entries per image at '
          '800 x 1333; bytes received per rank and call, ring all-reduce):\n')
    print('| GPUs | positives in the batch | Rank & Sort / aLRP global '
          '(ours) | AP-loss global (ours) | all-gather of every score | '
          'ratio | per-rank compute, ours: sorted + placed | all-gather: '
          'placed |')
    print('|---|---|---|---|---|---|---|---|')
    for world in (8, 64, 512):
        p_total = world * img_per_gpu * pos_img
        p_rank = img_per_gpu * pos_img
        ours = comm_bytes(world, p_total, p_rank, 'alrp')[1]
        ap = comm_bytes(world, p_total, p_rank, 'ap')[1]
        naive = (world - 1) * img_per_gpu * (neg_img + pos_img) * 5
        placed = img_per_gpu * neg_img
        print(f'| {world} | {p_total:,} | {_mb(ours)} | {_mb(ap)} | '
              f'{_mb(naive)} | {naive / ours:,.0f}x | {p_total:,} + '
              f'<= {placed / 1e6:.1f}M | {world * placed / 1e6:,.0f}M |')


def comm_bytes(world: int, p_total: int, p_rank: int, name: str):
    """(sent, received) bytes of one global ranking-loss call per rank:
    the counts table (3 int64 and one per input check, all-gathered: the
    labels, and Rank & Sort's IoU targets), the positives' scores (+ IoU
    targets for Rank & Sort, localisation errors for aLRP) as float64
    padded to the longest rank,
    the per-positive false-positive counts (float64 all-reduce); aLRP adds
    its localisation value (a float32 all-reduce)."""
    ring = 2 * (world - 1) / world
    per_pos = 8 if name == 'ap' else 16
    reduce_bytes = p_total * 8 + (4 if name == 'alrp' else 0)
    columns = 3 + (2 if name == 'rs' else 1)
    gather_in = columns * 8 + p_rank * per_pos
    sent = ring * reduce_bytes + (world - 1) * gather_in
    return int(sent), int(sent)


def _mb(n: float) -> str:
    return f'{n / 1e6:,.1f} MB' if n >= 1e5 else f'{n / 1e3:,.1f} kB'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--quick', action='store_true', help='P=200, N up to 400,000')
    parser.add_argument(
        '--scaling',
        action='store_true',
        help='count the global mode per rank for 2, 4, 8 processes')
    parser.add_argument('--comm-pos', type=int, default=1000)
    parser.add_argument('--comm-neg', type=int, default=200000)
    parser.add_argument('--case', help=argparse.SUPPRESS)
    parser.add_argument('--num-pos', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--num-neg', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(
            json.dumps(
                run_case(args.case, args.num_pos, args.num_neg, args.repeats,
                         args.threads)))
        return
    if args.scaling:
        scaling_tables(args)
    else:
        speed_tables(args)


if __name__ == '__main__':
    main()
