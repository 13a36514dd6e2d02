"""AP-loss engine speed, memory and communication, on CPU, in one run.

* ours vs a reference that loops over positives (what the public AP-loss
  code does; O(P*N)), forward + backward, P = 1,000, N = 200,000;
* ours alone at N = 2,000,000 and 8,000,000 next to one ``torch.sort`` of
  the same scores;
* peak memory (resident growth, each case in a fresh subprocess);
* bytes each rank exchanges per iteration in global mode vs all-gathering
  every score.

Usage:
    python tools/benchmarks/bench_ap_loss.py
    python tools/benchmarks/bench_ap_loss.py --quick
"""
import argparse
import json
import statistics
import sys
import time

from mmdet_lossplus_tools.benchmarks.bench_common import (rss_mb,
                                                          run_in_fresh_process)


def make_scores(num_pos: int, num_neg: int, seed: int = 0):
    import torch
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(num_pos, generator=g) + 1.0
    neg = torch.randn(num_neg, generator=g) - 1.0
    scores = torch.cat([pos, neg])
    labels = torch.cat([
        torch.ones(num_pos, dtype=torch.int8),
        torch.zeros(num_neg, dtype=torch.int8)
    ])
    perm = torch.randperm(scores.numel(), generator=g)
    return scores[perm].contiguous(), labels[perm].contiguous()


def reference_loop(scores, labels, delta: float = 1.0):
    """AP-loss forward + error-driven update, one positive at a time."""
    import torch
    s = scores.double()
    pos_idx = torch.nonzero(labels == 1).flatten()
    neg = s[labels == 0]
    pos = s[pos_idx]
    num_pos = pos.numel()

    def h(x):
        return (x / (2 * delta) + 0.5).clamp(0, 1)

    rank = torch.empty(num_pos, dtype=torch.float64)
    fp = torch.empty(num_pos, dtype=torch.float64)
    for k in range(num_pos):
        rank[k] = 1 + h(pos - pos[k]).sum() - 0.5
        fp[k] = h(neg - pos[k]).sum()
    prec = rank / (rank + fp)
    interp = torch.empty_like(prec)
    for k in range(num_pos):
        interp[k] = prec[pos <= pos[k]].max()
    loss = 1 - interp.mean()
    w = torch.where(interp > prec, (1 - interp) / (1 - prec),
                    torch.ones_like(prec))
    neg_update = torch.zeros_like(neg)
    for k in range(num_pos):
        neg_update += w[k] * h(neg - pos[k]) / (rank[k] + fp[k])
    update = torch.zeros_like(s)
    update[labels == 0] = neg_update / num_pos
    update[pos_idx] = -(1 - interp) / num_pos
    return loss, update


def run_case(case: str, num_pos: int, num_neg: int, repeats: int,
             threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    from mmdet_lossplus.functional.ap_loss import ap_loss_with_update
    scores, labels = make_scores(num_pos, num_neg)
    base = rss_mb()  # after imports and inputs: the case's own growth
    if case == 'ours':

        def step():
            out = ap_loss_with_update(scores, labels, 1.0)
            return out.loss, out.update
    elif case == 'reference':

        def step():
            return reference_loop(scores, labels, 1.0)
    else:  # one sort of the same scores

        def step():
            return torch.sort(scores)

    times, result = [], None
    for i in range(repeats + 1):
        start = time.perf_counter()
        result = step()
        if i > 0:
            times.append(time.perf_counter() - start)
    out = dict(
        ms=1e3 * statistics.median(times), peak_mb=max(rss_mb() - base, 0.0))
    if case in ('ours', 'reference'):
        out['loss'] = float(result[0])
        # every entry, so that the agreement covers all N + P updates
        out['update'] = result[1].tolist()
    return out


def child(case, num_pos, num_neg, repeats, threads):
    return run_in_fresh_process(__file__, [
        '--case', case, f'--num-pos={num_pos}', f'--num-neg={num_neg}',
        f'--repeats={repeats}', f'--threads={threads}'
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--quick', action='store_true', help='P=200, N up to 400,000')
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
    p = 200 if args.quick else 1000
    n_ref = 40000 if args.quick else 200000
    sizes = [n_ref, 200000, 400000] if args.quick else \
        [n_ref, 2000000, 8000000]

    print(f'... reference loop P={p} N={n_ref}', file=sys.stderr, flush=True)
    ref = child('reference', p, n_ref, 1, args.threads)
    rows = []
    for n in sizes:
        print(f'... ours and sort, N={n}', file=sys.stderr, flush=True)
        ours = child('ours', p, n, args.repeats, args.threads)
        sort = child('sort', p, n, args.repeats, args.threads)
        rows.append((n, ours, sort))
    ours_ref = rows[0][1]
    assert len(ours_ref['update']) == len(ref['update']) == p + n_ref
    max_diff = max(
        abs(a - b) for a, b in zip(ours_ref['update'], ref['update']))
    print(f'\nAP-loss forward + error-driven update on CPU '
          f'({args.threads} threads), P = {p:,} positives\n')
    print('| N negatives | reference loop ms | ours ms | speed-up | '
          'torch.sort ms | ours / sort | ours peak MB | MB per 1M entries |')
    print('|---|---|---|---|---|---|---|---|')
    for n, ours, sort in rows:
        is_ref = n == n_ref
        ref_ms = f'{ref["ms"]:.0f}' if is_ref else '-'
        speed = f'{ref["ms"] / ours["ms"]:.0f}x' if is_ref else '-'
        print(f'| {n:,} | {ref_ms} | {ours["ms"]:.1f} | {speed} | '
              f'{sort["ms"]:.1f} | {ours["ms"] / sort["ms"]:.2f}x | '
              f'{ours["peak_mb"]:.0f} | '
              f'{ours["peak_mb"] / ((n + p) / 1e6):.0f} |')
    print(f'\nagreement at N={n_ref:,}: |loss diff| = '
          f'{abs(ours_ref["loss"] - ref["loss"]):.2e}, max |update diff| '
          f'(all {p + n_ref:,} entries) = {max_diff:.2e}; reference peak '
          f'{ref["peak_mb"]:.0f} MB')
    # Communication per iteration and rank: the formula that reproduces the
    # counts of bench_ranking_losses.py --scaling (real gloo processes),
    # vs all-gathering every score (float32) and label (int8).
    from bench_ranking_losses import comm_bytes
    world, n_rank = 8, 2000000
    ours_bytes = comm_bytes(world, p, p // world, 'ap')[1]
    naive_bytes = (world - 1) * (n_rank + p // world) * 5
    print(f'\nbytes received per rank and iteration, W={world} ranks, '
          f'P={p:,} positives in all, N={n_rank:,} negatives per rank '
          '(the formula checked against counted messages by '
          'bench_ranking_losses.py --scaling; ring all-reduce):')
    print('| global AP-loss (ours) | all-gather of every score | ratio |')
    print('|---|---|---|')
    print(f'| {ours_bytes:,} B | {naive_bytes:,} B | '
          f'{naive_bytes / ours_bytes:,.0f}x less |')


if __name__ == '__main__':
    main()
