"""Issue 26, step 2: RetinaNet focal vs AP-loss vs aLRP over the demo
schedule (2,000 iterations) and three times it (6,000), each at its tuned
learning rate, evaluated every 1,000 iterations.

``--train SEEDS`` trains what is missing (demo_results.py, recorded in
``results/long_schedule.jsonl`` with each evaluation along the way);
without it the tool prints the mAP at every evaluation (mean and seeds)
and, at the end of each schedule, the difference from focal loss in
standard errors; ``--plot`` draws mAP against iterations. A loss whose
final mAP is within 3 standard errors of focal's on two seeds gets a third
(``--third-seed``: seed 2 of it and of focal, same schedule).

The learning rate of a row is its tuned one (``lr_tuning.py``: the best
over seeds 0 and 1) when the row was tuned, else the demo's (aLRP was not
part of the tuning: it trains at the demo's 2e-3).

Usage:
    python tools/analysis_tools/schedule_curves.py --train 0 1 [--dry-run]
        [--schedules 1x 3x] [--losses focal AP-loss aLRP]
    python tools/analysis_tools/schedule_curves.py --third-seed [--dry-run]
    python tools/analysis_tools/schedule_curves.py [--plot curves.png]
        [--readme docs/results.md]
"""
import argparse
import os.path as osp
import statistics

from mmdet_lossplus_tools.analysis_tools import lr_tuning
from mmdet_lossplus_tools.results.paths import ROOT
from mmdet_lossplus_tools.results.report import difference, welch, write_readme
from mmdet_lossplus_tools.results.store import RESULTS, load_runs

LONG = osp.join(ROOT, 'results', 'long_schedule.jsonl')
EVAL_EVERY = 'train_cfg.val_interval=1000'
README_START = '<!-- schedule-curves:start (schedule_curves.py --readme) -->'
README_END = '<!-- schedule-curves:end -->'
# (name, demo config, 3x config); focal first: the others' baseline
ROWS = (('focal', 'configs/retinanet/retinanet_r18_fpn_demo.py',
         'configs/retinanet/retinanet_r18_fpn_3x.py'),
        ('AP-loss', 'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
         'configs/ap_loss/retinanet_r18_fpn_aploss_3x.py'),
        ('aLRP', 'configs/alrp/retinanet_r18_fpn_alrp_demo.py',
         'configs/alrp/retinanet_r18_fpn_alrp_3x.py'))


def tuned_lrs() -> dict:
    """``{demo config: lr}``: the tuned lr of the rows that were tuned
    (SystemExit while their check is incomplete), else the demo's."""
    records = load_runs(RESULTS) + load_runs(lr_tuning.TUNING)
    defaults = {c: lr_tuning.config_lr(c) for c in lr_tuning.ROWS}
    best = lr_tuning.best_lrs(records, defaults, [1e-3, 2e-3, 4e-3], [0, 1])
    out = {}
    for _, demo, _ in ROWS:
        if demo in best and best[demo] is None:
            raise SystemExit(f'{demo}: its lr check is not complete '
                             '(make results-tune)')
        out[demo] = best.get(demo) or lr_tuning.config_lr(demo)
    return out


def planned() -> list:
    """``[(name, schedule, config, options)]``: every row in both
    schedules (the demo one evaluated every 1,000 iterations too)."""
    lrs = tuned_lrs()
    out = []
    for name, demo, long in ROWS:
        lr = f'{lr_tuning.LR}={lrs[demo]:g}'
        out.append((name, '1x', demo, [EVAL_EVERY, lr]))
        out.append((name, '3x', long, [lr]))
    return out


def curve_table(records: list, plan: list) -> str:
    """Markdown: per row and schedule, the mAP at each evaluation (mean
    over seeds, then the seeds) and the final difference from focal of
    the same schedule."""
    lines = [
        '| loss | schedule | seeds | mAP at 1k / 2k / ... iterations '
        '(mean over seeds) | final mAP per seed | final vs focal |',
        '|---|---|---|---|---|---|'
    ]
    finals = {}
    for name, schedule, config, options in plan:
        rows = sorted(_runs(records, config, options), key=lambda r: r['seed'])
        if not rows:
            lines.append(f'| {name} | {schedule} | 0 | - | - | - |')
            continue
        steps = [it for it, _ in rows[0]['curve']]
        means = [
            statistics.mean(r['curve'][k][1] for r in rows)
            for k in range(len(steps))
        ]
        finals[(name, schedule)] = rows
        focal = finals.get(('focal', schedule))
        versus = 'baseline' if name == 'focal' else (
            difference(rows, focal) if focal else '-')
        lines.append(f'| {name} | {schedule} | {len(rows)} | ' +
                     ' / '.join(f'{m:.3f}' for m in means) + ' | ' +
                     ', '.join(f"{r['seed']}: {r['bbox_mAP']:.3f}"
                               for r in rows) + f' | {versus} |')
    return '\n'.join(lines)


def _runs(records: list, config: str, options: list) -> list:
    return [
        r for r in records if r['config'] == config
        and r.get('options') == options and 'curve' in r
    ]


def third_seed_due(records: list, plan: list) -> list:
    """``[(config, options)]`` of the plan rows that need a third seed:
    per schedule, a loss whose final mAP is within 3 standard errors of
    focal's (both on two seeds or more, fewer than three on one side),
    and then focal of that schedule too."""
    due = []
    focal = {s: (c, o) for n, s, c, o in plan if n == 'focal'}
    for name, schedule, config, options in plan:
        if name == 'focal':
            continue
        rows = _runs(records, config, options)
        base = _runs(records, *focal[schedule])
        if min(len(rows), len(base)) != 2:
            continue
        diff, se = welch(rows, base)
        if abs(diff) < 3 * se:
            for pair in ((config, options), focal[schedule]):
                if pair not in due:
                    due.append(pair)
    return due


def plot(records: list, plan: list, path: str) -> None:
    """mAP against iterations, one line per run, one colour per loss,
    dashed for the demo schedule."""
    from mmdet_lossplus.extras import new_figure
    fig = new_figure((7, 4.2), 'the schedule curves')
    ax = fig.subplots()
    colours = {name: f'C{k}' for k, (name, _, _) in enumerate(ROWS)}
    for name, schedule, config, options in plan:
        for r in _runs(records, config, options):
            its, maps = zip(*r['curve'])
            ax.plot(
                its,
                maps,
                '--' if schedule == '1x' else '-',
                color=colours[name],
                marker='.',
                label=f'{name} {schedule}' if r['seed'] == 0 else None)
    ax.set_xlabel('iteration')
    ax.set_ylabel('bbox mAP (200 val images)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--train', type=int, nargs='+', metavar='SEED', help='seeds to run')
    parser.add_argument('--dry-run', action='store_true')
    parser.add_argument(
        '--schedules',
        nargs='+',
        choices=('1x', '3x'),
        default=('1x', '3x'),
        help='with --train: the schedules to train (default both)')
    parser.add_argument(
        '--third-seed',
        action='store_true',
        help='train seed 2 of the rows whose final difference from focal '
        'is within 3 standard errors (and of focal)')
    parser.add_argument(
        '--losses',
        nargs='+',
        choices=[name for name, _, _ in ROWS],
        default=[name for name, _, _ in ROWS],
        help='with --train: the rows to train (default all)')
    parser.add_argument('--plot', help='write mAP against iterations (PNG)')
    parser.add_argument(
        '--readme',
        help='also write the table into this markdown file, between its '
        'schedule-curves markers')
    args = parser.parse_args(argv)
    plan = planned()
    if args.train:
        from mmdet_lossplus_tools.analysis_tools import demo_results
        for name, schedule, config, options in plan:
            if schedule not in args.schedules or name not in args.losses:
                continue
            demo_results.main([
                osp.join(ROOT, config), '--seeds', *map(str, args.train),
                '--results', LONG, '--cfg-options', *options
            ] + (['--dry-run'] if args.dry_run else []))
        return
    records = load_runs(LONG)
    if args.third_seed:
        from mmdet_lossplus_tools.analysis_tools import demo_results
        due = third_seed_due(records, plan)
        print(f'>>> seed 2 due for {len(due)} row(s)', flush=True)
        for config, options in due:
            demo_results.main([
                osp.join(ROOT, config), '--seeds', '2', '--results', LONG,
                '--cfg-options', *options
            ] + (['--dry-run'] if args.dry_run else []))
        return
    text = curve_table(records, plan)
    print(text)
    if args.readme:
        changed = write_readme(args.readme, text, README_START, README_END)
        print(f"{args.readme}: {'updated' if changed else 'unchanged'}")
    if args.plot and not any('curve' in r for r in records):
        print(f'{args.plot}: not drawn, no run recorded yet')
    elif args.plot:
        plot(records, plan, args.plot)
        print(f'picture: {args.plot}')


if __name__ == '__main__':
    main()
