"""The learning-rate check of the headline rows (issue 26, step 1), from
the recorded runs: bbox mAP of each row at every learning rate tried.

``make results-tune`` trains the rows at lr x 0.5 and x 2 of the demo's
(``--cfg-options optim_wrapper.optimizer.lr=...``, recorded in
``results/lr_tuning.jsonl``); the demo's own lr is the row's record in
``results/demo_runs.jsonl``. Every lr is compared on the same seeds
(``--seeds``, default 0 and 1: the budget every lr gets); a row's best lr
is the highest mean once every lr has all those seeds, else ``pending``.

Then each row's best lr gets 3 seeds (``--train-best 2``: the seed the
tuning runs lack; a row whose best lr is the demo's has its 3 seeds in
the demo results already), and ``--tuned`` prints every row at its own
best lr with its difference from the tuned focal baseline of its
detector, in standard errors.

Usage:
    python tools/analysis_tools/lr_tuning.py [--seeds 0 1]
    python tools/analysis_tools/lr_tuning.py --train-best 2 [--dry-run]
    python tools/analysis_tools/lr_tuning.py --tuned
    python tools/analysis_tools/lr_tuning.py --readme docs/results.md \
        --headline README.md
"""
import argparse
import functools
import os.path as osp
import statistics

from mmdet_lossplus_tools.results.paths import ROOT
from mmdet_lossplus_tools.results.report import difference, write_readme
from mmdet_lossplus_tools.results.store import RESULTS, load_runs

TUNING = osp.join(ROOT, 'results', 'lr_tuning.jsonl')
LR = 'optim_wrapper.optimizer.lr'
README_START = '<!-- lr-tuning:start (lr_tuning.py --readme) -->'
README_END = '<!-- lr-tuning:end -->'
HEADLINE_START = '<!-- headline:start (lr_tuning.py --headline) -->'
HEADLINE_END = '<!-- headline:end -->'
# the detector of each pair of ROWS, and each row's loss
DETECTORS = ('RetinaNet', 'ATSS', 'FCOS')
LOSSES = ('focal', 'AP-loss', 'focal', 'Rank & Sort', 'focal', 'AP-loss')
# the headline rows: each detector's focal baseline and ranking loss
# (a ranking row's baseline is the focal row before it)
ROWS = ('configs/retinanet/retinanet_r18_fpn_demo.py',
        'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
        'configs/atss/atss_r18_fpn_demo.py',
        'configs/atss/atss_r18_fpn_ranksort_demo.py',
        'configs/fcos/fcos_r18_fpn_demo.py',
        'configs/fcos/fcos_r18_fpn_aploss_demo.py')


@functools.lru_cache(maxsize=None)
def config_lr(config: str) -> float:
    """The learning rate ``config`` (repository-relative) trains with."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    return float(cfg.optim_wrapper.optimizer.lr)


def lr_of(record: dict, default: float) -> float:
    """The record's learning rate: its ``--cfg-options`` one, else
    ``default``. Raises ValueError for a record with other options (not
    part of this check)."""
    options = dict(o.split('=', 1) for o in record.get('options', ()))
    if set(options) - {LR}:
        raise ValueError(f"{record['config']}: options "
                         f'{sorted(set(options) - {LR})} are not a learning '
                         'rate check')
    return float(options[LR]) if LR in options else default


def by_lr(records: list, config: str, default: float, seeds) -> dict:
    """``{lr: {seed: bbox_mAP}}`` of ``config``'s one-process records on
    ``seeds``; records with options other than the lr are left out."""
    out = {}
    for r in records:
        if r['config'] != config or r['gpus'] != 1 or r['seed'] not in seeds:
            continue
        try:
            lr = lr_of(r, default)
        except ValueError:
            continue
        out.setdefault(lr, {})[r['seed']] = r['bbox_mAP']
    return out


def best_lr(maps: dict, seeds) -> object:
    """The lr with the highest mean mAP when every lr has every seed in
    ``seeds``; None while any is missing."""
    if not maps or any(set(seeds) - set(v) for v in maps.values()):
        return None
    return max(maps, key=lambda lr: statistics.mean(maps[lr].values()))


def cell(values: dict) -> str:
    if not values:
        return '-'
    maps = [values[s] for s in sorted(values)]
    text = ', '.join(f'{m:.3f}' for m in maps)
    if len(maps) > 1:
        return f'{statistics.mean(maps):.3f} ({text})'
    return f'{text} (one seed)'


def table(records: list, configs, lrs, defaults: dict, seeds) -> str:
    """Markdown: per config, the mAP at each lr (mean and every seed) and
    the best lr (``pending`` until every lr has every seed)."""
    seeds = tuple(seeds)
    head = ' | '.join(f'lr {lr:g}' for lr in lrs)
    lines = [
        f'| config | {head} | best lr (seeds {", ".join(map(str, seeds))}) |',
        '|---' * (len(lrs) + 2) + '|'
    ]
    for config in configs:
        maps = by_lr(records, config, defaults[config], seeds)
        cells = ' | '.join(cell(maps.get(lr, {})) for lr in lrs)
        best = best_lr({lr: maps.get(lr, {}) for lr in lrs}, seeds)
        lines.append(f'| `{config}` | {cells} | '
                     f'{"pending" if best is None else f"{best:g}"} |')
    return '\n'.join(lines)


def best_lrs(records: list, defaults: dict, lrs, seeds) -> dict:
    """``{config: best lr or None}`` of every headline row."""
    out = {}
    for config in ROWS:
        maps = by_lr(records, config, defaults[config], tuple(seeds))
        out[config] = best_lr({lr: maps.get(lr, {}) for lr in lrs}, seeds)
    return out


def runs_at(records: list, config: str, lr: float, default: float) -> list:
    """``config``'s one-process records trained at ``lr``."""
    rows = []
    for r in records:
        if r['config'] != config or r['gpus'] != 1:
            continue
        try:
            if lr_of(r, default) == lr:
                rows.append(r)
        except ValueError:
            continue
    return sorted(rows, key=lambda r: r['seed'])


def tuned_table(records: list, defaults: dict, best: dict) -> str:
    """Markdown: every headline row at its own best lr (all its seeds),
    and its difference from its detector's focal row at that row's best
    lr (Welch standard errors, as the demo table)."""
    lines = [
        '| config | best lr | seeds | bbox mAP mean +- std | every seed | '
        'vs tuned focal of the same detector |', '|---|---|---|---|---|---|'
    ]
    for k, config in enumerate(ROWS):
        lr = best[config]
        if lr is None:
            lines.append(f'| `{config}` | pending | | | | |')
            continue
        rows = runs_at(records, config, lr, defaults[config])
        maps = [r['bbox_mAP'] for r in rows]
        spread = f'{statistics.stdev(maps):.3f}' if len(maps) > 1 else '-'
        seeds = ', '.join(f"{r['seed']}: {r['bbox_mAP']:.3f}" for r in rows)
        focal = ROWS[k - k % 2]
        if focal == config:
            versus = 'baseline'
        elif best[focal] is None:
            versus = 'pending'
        else:
            versus = difference(
                rows, runs_at(records, focal, best[focal], defaults[focal]))
        lines.append(f'| `{config}` | {lr:g} | {len(rows)} | '
                     f'{statistics.mean(maps):.3f} +- {spread} | {seeds} | '
                     f'{versus} |')
    return '\n'.join(lines)


def _mean_std(rows: list) -> str:
    maps = [r['bbox_mAP'] for r in rows]
    spread = f' +- {statistics.stdev(maps):.3f}' if len(maps) > 1 else ''
    return f'{statistics.mean(maps):.3f}{spread} ({len(maps)})'


def headline_table(records: list, defaults: dict, best: dict) -> str:
    """Markdown for the README: each headline row untuned (the demo lr)
    and tuned (its own best lr), each against its detector's focal row
    trained the same way (Welch standard errors)."""
    lines = [
        '| detector | loss | untuned (demo lr): bbox mAP (seeds) | vs '
        'focal, untuned | tuned: best lr | bbox mAP (seeds) | vs tuned '
        'focal |', '|---|---|---|---|---|---|---|'
    ]
    for k, config in enumerate(ROWS):
        focal = ROWS[k - k % 2]
        demo = runs_at(records, config, defaults[config], defaults[config])
        demo_focal = runs_at(records, focal, defaults[focal], defaults[focal])
        cells = [_mean_std(demo) if demo else '-', '-']
        if focal == config:
            cells[1] = 'baseline'
        elif demo and demo_focal:
            cells[1] = difference(demo, demo_focal)
        if best[config] is None or best[focal] is None:
            cells += ['pending', '-', '-']
        else:
            rows = runs_at(records, config, best[config], defaults[config])
            cells += [f'{best[config]:g}', _mean_std(rows)]
            cells.append('baseline' if focal == config else difference(
                rows, runs_at(records, focal, best[focal], defaults[focal])))
        lines.append(f'| {DETECTORS[k // 2]} | {LOSSES[k]} | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def train_best(best: dict, defaults: dict, seeds, dry_run: bool) -> None:
    """Train each row at its best lr for ``seeds`` (demo_results.py into
    the tuning results; a row at the demo's lr has them already)."""
    from mmdet_lossplus_tools.analysis_tools import demo_results
    for config, lr in best.items():
        if lr is None:
            raise SystemExit(f'{config}: the lr check is not complete '
                             '(make results-tune first)')
        if lr == defaults[config]:
            print(f'>>> {config}: best lr {lr:g} is the demo\'s; its seeds '
                  'are in results/demo_runs.jsonl')
            continue
        demo_results.main([
            osp.join(ROOT, config), '--seeds', *map(str, seeds), '--results',
            TUNING, '--cfg-options', f'{LR}={lr:g}'
        ] + (['--dry-run'] if dry_run else []))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0, 1],
        help='the seeds every lr is compared on')
    parser.add_argument(
        '--lrs',
        type=float,
        nargs='+',
        default=[1e-3, 2e-3, 4e-3],
        help='the learning rates of the table')
    parser.add_argument(
        '--train-best',
        type=int,
        nargs='+',
        metavar='SEED',
        help='train every row at its best lr with these seeds')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='with --train-best: list the runs, train nothing')
    parser.add_argument(
        '--tuned',
        action='store_true',
        help='also print every row at its best lr against its tuned focal')
    parser.add_argument(
        '--readme',
        help='also write both tables into this markdown file, between its '
        'lr-tuning markers')
    parser.add_argument(
        '--headline',
        help='also write the untuned / tuned headline table into this '
        'markdown file, between its headline markers')
    args = parser.parse_args(argv)
    records = load_runs(RESULTS) + load_runs(TUNING)
    defaults = {c: config_lr(c) for c in ROWS}
    best = best_lrs(records, defaults, args.lrs, args.seeds)
    if args.train_best:
        train_best(best, defaults, args.train_best, args.dry_run)
        return
    text = table(records, ROWS, args.lrs, defaults, args.seeds)
    tuned = tuned_table(records, defaults, best)
    print(text)
    if args.tuned:
        print()
        print(tuned)
    if args.readme:
        changed = write_readme(args.readme, f'{text}\n\n{tuned}', README_START,
                               README_END)
        print(f"{args.readme}: {'updated' if changed else 'unchanged'}")
    if args.headline:
        changed = write_readme(args.headline,
                               headline_table(records, defaults, best),
                               HEADLINE_START, HEADLINE_END)
        print(f"{args.headline}: {'updated' if changed else 'unchanged'}")


if __name__ == '__main__':
    main()
