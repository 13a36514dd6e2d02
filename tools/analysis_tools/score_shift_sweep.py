"""Global vs per-process ranking at a fixed global batch, from the recorded
runs: the tables and the picture of the score-shift sweep.

Reads the runs ``demo_results.py`` recorded for the given configs (``make
sweep`` trains them: W processes x 8/W images, ``--cfg-options
train_dataloader.batch_size=...`` with and without
``model.bbox_head.loss_cls.scope=local``, optionally another sampler) and
groups them by cell: processes, images per process, how images are dealt
to processes (the sampler) and the ranking scope. Per cell: bbox mAP over
seeds (mean +- sample std, every seed), the global minus per-process
difference in standard errors (Welch), and the ranking hook's figures
averaged over training and seeds: the batch AP of the global ranking minus
the mean of the per-rank ones, the spread of the ranks' mean positive
score, and seconds per iteration.

Usage:
    python tools/analysis_tools/score_shift_sweep.py CONFIG [CONFIG ...] \
        [--readme README.md ...] [--plot sweep.png]
"""
import argparse
import functools
import os.path as osp
import statistics

from mmdet_lossplus_tools.results.paths import ROOT
from mmdet_lossplus_tools.results.report import difference, write_readme
from mmdet_lossplus_tools.results.store import load_runs, run_key
from mmdet_lossplus_tools.results.variants import current_runs

SWEEP_START = '<!-- score-shift-sweep:start (score_shift_sweep.py) -->'
SWEEP_END = '<!-- score-shift-sweep:end -->'
BATCH = 'train_dataloader.batch_size'
SCOPE = 'model.bbox_head.loss_cls.scope'
SAMPLER = 'train_dataloader.sampler.type'


@functools.lru_cache(maxsize=None)
def config_batch_size(config: str) -> int:
    """Images per process of ``config`` (repository-relative)."""
    from mmengine.config import Config
    return int(
        Config.fromfile(osp.join(ROOT, config)).train_dataloader.batch_size)


def cell_of(record: dict) -> tuple:
    """``(processes, images per process, dealing, scope)`` of a record;
    dealing is ``'random'`` or the sampler's class name, scope ``'global'``
    or ``'local'`` (one process is always ``'global'``: the modes
    coincide). Raises ValueError for options this sweep does not vary."""
    options = dict(o.split('=', 1) for o in record.get('options', ()))
    unknown = set(options) - {BATCH, SCOPE, SAMPLER}
    if unknown:
        raise ValueError(f"{record['config']}: options {sorted(unknown)} "
                         'are not part of the sweep')
    per = int(options.get(BATCH, config_batch_size(record['config'])))
    dealing = options.get(SAMPLER, 'random').split('.')[-1]
    scope = options.get(SCOPE, 'global').strip('\'"')
    if record['gpus'] == 1:
        scope = 'global'
    return record['gpus'], per, dealing, scope


def cells(runs: list, config: str) -> dict:
    """``{cell: [records sorted by seed]}`` of ``config``'s runs."""
    out = {}
    for r in runs:
        if r['config'] == config:
            out.setdefault(cell_of(r), []).append(r)
    return {k: sorted(v, key=lambda r: r['seed']) for k, v in out.items()}


def _maps(rows: list) -> str:
    values = [r['bbox_mAP'] for r in rows]
    spread = f' +- {statistics.stdev(values):.3f}' if len(values) > 1 else ''
    seeds = ', '.join(f'{v:.3f}' for v in values)
    return f'{statistics.mean(values):.3f}{spread} ({seeds})'


def _ranking(rows: list, key: str, sign: str = '+') -> str:
    values = [r['ranking'][key] for r in rows if key in r.get('ranking', {})]
    return f'{statistics.mean(values):{sign}.3f}' if values else '-'


def _speed(rows: list) -> str:
    values = [r['s_per_iter'] for r in rows if r.get('s_per_iter')]
    return f'{statistics.mean(values):.3f}' if values else '-'


def sweep_table(runs: list, config: str) -> str:
    """Markdown: one line per (dealing, processes, images per process)."""
    groups = cells(runs, config)
    if not groups:
        return f'`{config}`\n\nNo recorded runs yet.'
    lines = [
        f'`{config}`', '',
        '| processes x images | images dealt | global ranking: bbox mAP '
        'mean +- std (seeds) | per-process ranking: bbox mAP mean +- std '
        '(seeds) | global - per-process | batch AP gap, global - per rank '
        '(global / per-process runs) | spread of the ranks\' mean positive '
        'score (global / per-process runs) | s / iter (global / '
        'per-process) |', '|---|---|---|---|---|---|---|---|'
    ]
    shapes = sorted({k[:3]
                     for k in groups},
                    key=lambda k: (k[2] != 'random', k[2], k[0]))
    for procs, per, dealing in shapes:
        glob = groups.get((procs, per, dealing, 'global'), [])
        local = groups.get((procs, per, dealing, 'local'), [])
        if procs == 1:
            local_text, diff = 'the same (one process)', '-'
        else:
            local_text = _maps(local) if local else '-'
            diff = difference(glob, local) \
                if glob and local else '-'

        def pair(fn, *args):
            return ' / '.join(fn(rows, *args) if rows else '-'
                              for rows in (glob, local)) \
                if procs > 1 else fn(glob, *args)

        lines.append(
            f'| {procs} x {per} | {dealing} | '
            f"{_maps(glob) if glob else '-'} | {local_text} | {diff} | "
            f"{pair(_ranking, 'ap_gap')} | "
            f"{pair(_ranking, 'pos_score_spread', '')} | {pair(_speed)} |")
    return '\n'.join(lines)


def plot(runs: list, configs: list, path: str) -> None:
    """bbox mAP against processes, global and per-process ranking, one
    panel per config and dealing; dots: seeds, line: mean, bars: std."""
    from mmdet_lossplus.extras import new_figure
    panels = [(c, d) for c in configs for d in sorted(
        {k[2]
         for k in cells(runs, c)}, key=lambda d: (d != 'random', d))]
    if not panels:
        raise ValueError(f'no recorded runs of {configs} to plot')
    fig = new_figure((5 * len(panels), 3.8), 'the sweep plot')
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (config, dealing) in zip(axes[0], panels):
        groups = cells(runs, config)
        for k, scope in enumerate(('global', 'local')):
            xs, means, errs = [], [], []
            for (procs, _, deal, sc), rows in sorted(groups.items()):
                if deal != dealing or (sc != scope and procs > 1):
                    continue
                values = [r['bbox_mAP'] for r in rows]
                x = procs * (1.03 if scope == 'local' else 0.97)
                ax.plot([x] * len(values), values, '.', color=f'C{k}')
                xs.append(x)
                means.append(statistics.mean(values))
                errs.append(
                    statistics.stdev(values) if len(values) > 1 else 0.0)
            name = 'global' if scope == 'global' else 'per-process'
            ax.errorbar(
                xs,
                means,
                yerr=errs,
                color=f'C{k}',
                marker='o',
                capsize=3,
                label=f'{name} ranking')
        ax.set_xscale('log', base=2)
        procs = sorted({k[0] for k in groups if k[2] == dealing})
        ax.set_xticks(procs)
        ax.set_xticklabels([str(p) for p in procs])
        ax.set_xlim(procs[0] / 1.5, procs[-1] * 1.5)
        ax.set_xlabel('processes (global batch fixed)')
        ax.set_title(
            f'{osp.basename(config)}\nimages dealt: {dealing}', fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('bbox mAP')
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', help='swept configs')
    parser.add_argument(
        '--results',
        default=osp.join(ROOT, 'results', 'demo_runs.jsonl'),
        help='results file of demo_results.py')
    parser.add_argument(
        '--readme',
        nargs='+',
        default=[],
        help='write the tables into these markdown files, between their '
        'score-shift-sweep markers')
    parser.add_argument('--plot', help='write the picture here (PNG)')
    args = parser.parse_args(argv)
    for config in args.configs:
        if not osp.isfile(config):
            parser.error(f'config not found: {config}')
    configs = [run_key(c, 0, 1)[0] for c in args.configs]
    kept, stale = current_runs(load_runs(args.results), args.configs)
    if stale:
        print(f'!!! {len(stale)} recorded run(s) at another score cut are '
              'left out (demo_results.py --reevaluate)')
    text = '\n\n'.join(sweep_table(kept, c) for c in configs)
    print(text)
    for readme in args.readme:
        changed = write_readme(readme, text, SWEEP_START, SWEEP_END)
        print(f"{readme}: {'updated' if changed else 'unchanged'}")
    if args.plot:
        if any(cells(kept, c) for c in configs):
            plot(kept, configs, args.plot)
            print(f'picture: {args.plot}')
        else:
            print(f'no recorded runs: {args.plot} not written')


if __name__ == '__main__':
    main()
