"""The tables, the picture and the README blocks written from the
recorded runs."""
import glob
import os.path as osp
import statistics

from .paths import ROOT
from .store import key_of, label, run_key
from .variants import BASELINES, baseline_config, current_runs

README_START = '<!-- demo-results:start (demo_results.py --readme) -->'
README_END = '<!-- demo-results:end -->'


def welch(rows: list, base: list) -> tuple:
    """``(mean(rows) - mean(base), standard error)`` of the runs' bbox
    mAP; the error (Welch: the square root of s1^2 / n1 + s0^2 / n0) is
    None unless both sides have two seeds or more."""
    a = [r['bbox_mAP'] for r in rows]
    b = [r['bbox_mAP'] for r in base]
    diff = statistics.mean(a) - statistics.mean(b)
    if len(a) < 2 or len(b) < 2:
        return diff, None
    return diff, (statistics.variance(a) / len(a) +
                  statistics.variance(b) / len(b))**0.5


def difference(rows: list, base: list) -> str:
    """``mean(rows) - mean(base)`` and, with two seeds or more on both
    sides, that difference in standard errors (:func:`welch`)."""
    diff, se = welch(rows, base)
    if se is None:
        return f'{diff:+.3f} (one seed)'
    return f'{diff:+.3f} ({diff / se:+.1f} se)' if se > 0 else \
        f'{diff:+.3f}'


def paired_difference(rows: list, twin_rows: list) -> str:
    """For rows tested on their twin's trainings: the mean, over the seeds
    both have, of (row - twin) on the same checkpoint, and its range."""
    twin = {r['seed']: r['bbox_mAP'] for r in twin_rows}
    diffs = [
        r['bbox_mAP'] - twin[r['seed']] for r in rows if r['seed'] in twin
    ]
    if not diffs:
        return ''
    return (f'{statistics.mean(diffs):+.3f} on the same {len(diffs)} '
            f'checkpoint(s) (range {min(diffs):+.3f} to {max(diffs):+.3f})')


def group_runs(runs: list, configs: list) -> dict:
    """``{(config, processes, options): [records]}`` of the runs of
    ``configs``, the rows of every table and of the picture."""
    keys = {run_key(c, 0, 1)[0] for c in configs}
    groups = {}
    for r in runs:
        if r['config'] in keys:
            groups.setdefault((r['config'], r['gpus'], key_of(r)[3]),
                              []).append(r)
    return groups


def summary(runs: list, configs: list) -> str:
    """Markdown: per config and process count, the bbox mAP over seeds as
    mean +- sample standard deviation, every seed's value, the mean
    mAP@50/75 and the difference from the focal baseline of the same
    detector and process count."""
    groups = group_runs(runs, configs)
    lines = [
        '| config | processes | seeds | bbox mAP mean +- std | every seed '
        '(seed: mAP) | mAP@50 mean | mAP@75 mean | vs focal of the same '
        'detector |', '|---|---|---|---|---|---|---|---|'
    ]
    for (config, gpus, options), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: r['seed'])
        values = [r['bbox_mAP'] for r in rows]
        mean = statistics.mean(values)
        spread = f'{statistics.stdev(values):.3f}' if len(values) > 1 \
            else '- (one seed)'
        seeds = ', '.join(f"{r['seed']}: {r['bbox_mAP']:.3f}" for r in rows)
        at50 = statistics.mean(r['bbox_mAP_50'] for r in rows)
        at75 = statistics.mean(r['bbox_mAP_75'] for r in rows)
        base = baseline_config(config)
        if base == config and not options:
            versus = 'baseline'
        elif (base, gpus, ()) in groups:
            versus = difference(rows, groups[(base, gpus, ())])
        elif (base, 1, ()) in groups:  # the same global batch in one
            versus = difference(rows, groups[(base, 1, ())]) + ' vs 1 proc'
        else:
            versus = '-'
        trained_by = {r.get('trained_by', {}).get('config') for r in rows}
        twin = trained_by.pop() if len(trained_by) == 1 else None
        if twin and (twin, gpus, options) in groups:
            paired = paired_difference(rows, groups[(twin, gpus, options)])
            if paired:
                versus += f'; vs `{osp.basename(twin)}`: {paired}'
        lines.append(f'| {label(config, options)} | {gpus} | {len(rows)} | '
                     f'{mean:.3f} +- {spread} | {seeds} | {at50:.3f} | '
                     f'{at75:.3f} | {versus} |')
    return '\n'.join(lines)


def other_metrics_table(runs: list, configs: list) -> str:
    """Markdown: per config and process count with such runs, each of
    their evaluators' other metrics (``other_metrics``) as mean +- sample
    standard deviation over seeds; '' when no run has any."""
    groups = {}
    for group, rows in group_runs(runs, configs).items():
        rows = [r for r in rows if r.get('other_metrics')]
        if rows:
            groups[group] = rows
    if not groups:
        return ''
    names = sorted({
        k
        for rows in groups.values()
        for r in rows
        for k in r['other_metrics']
    })
    lines = [
        '| config | processes | seeds | ' + ' | '.join(f'`{n}`'
                                                       for n in names) + ' |',
        '|---|---|---|' + '---|' * len(names)
    ]
    for (config, gpus, options), rows in sorted(groups.items()):
        cells = []
        for name in names:
            values = [
                r['other_metrics'][name] for r in rows
                if name in r['other_metrics']
            ]
            if not values:
                cells.append('-')
            elif len(values) == 1:
                cells.append(f'{values[0]:.4g}')
            else:
                cells.append(f'{statistics.mean(values):.4g} +- '
                             f'{statistics.stdev(values):.2g}')
        lines.append(f'| {label(config, options)} | {gpus} | {len(rows)} | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def folder_configs(folder: str) -> list:
    """The demo configs of ``configs/<folder>`` (sub-folders too) and the
    focal baselines of their detectors, for that folder's README."""
    own = sorted(
        glob.glob(
            osp.join(ROOT, 'configs', folder, '**', '*_demo.py'),
            recursive=True))
    bases = {
        osp.join(ROOT, baseline_config(osp.relpath(c, ROOT)))
        for c in own
    }
    return own + sorted(bases - set(own))


def folder_block(folder: str, runs: list) -> str:
    """What ``configs/<folder>/README.md`` shows between its markers."""
    configs = folder_configs(folder)
    kept, _ = current_runs(runs, configs)
    other = other_metrics_table(kept, configs)
    return '\n\n'.join([summary(kept, configs)] + ([other] if other else []) +
                       [table(kept, configs)])


def write_folder_readmes(runs: list) -> list:
    """Rewrite the block of every config folder README that has the
    markers; the folders changed."""
    changed = []
    for readme in sorted(
            glob.glob(osp.join(ROOT, 'configs', '*', 'README.md'))):
        with open(readme) as f:
            if README_START not in f.read():
                continue
        folder = osp.basename(osp.dirname(readme))
        if write_readme(readme, folder_block(folder, runs)):
            changed.append(folder)
    return changed


def write_readme(path: str,
                 text: str,
                 start: str = README_START,
                 end: str = README_END) -> bool:
    """Replace the block between the markers ``start`` and ``end`` (the
    demo-results ones by default) of ``path`` by ``text``; False when it
    already holds it. Raises SystemExit when the markers are missing."""
    with open(path) as f:
        old = f.read()
    if start not in old or end not in old:
        raise SystemExit(f'{path} has no {start} ... {end} '
                         'block to write the tables into')
    head, rest = old.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f'{head}{start}\n{text}\n{end}{tail}'
    if new == old:
        return False
    with open(path, 'w') as f:
        f.write(new)
    return True


def plot_rows(runs: list, configs: list) -> list:
    """The picture's rows, top to bottom: per detector (in ``BASELINES``'
    order, others last) its focal baseline first, then its other configs
    by name. Each row is ``(label, mAPs, baseline mean or None,
    is_baseline)``."""
    groups = group_runs(runs, configs)
    detectors = list(BASELINES.values())
    rows = []
    for config, gpus, options in groups:
        base = baseline_config(config)
        rank = detectors.index(base) if base in detectors else len(detectors)
        is_base = (config, gpus, options) == (base, 1, ())
        values = [r['bbox_mAP'] for r in groups[(config, gpus, options)]]
        base_rows = groups.get((base, 1, ()))
        name = osp.splitext(osp.basename(config))[0]
        opts = ' '.join(o.split('.')[-1] for o in options)
        text = f'{name} x{gpus} {opts}'.strip()
        rows.append(
            ((rank, not is_base, config, gpus, options),
             (f'{text} (n={len(values)})', values,
              statistics.mean(r['bbox_mAP']
                              for r in base_rows) if base_rows else None,
              is_base)))
    return [row for _, row in sorted(rows)]


def plot(runs: list, configs: list, path: str) -> None:
    """bbox mAP per config, grouped by detector: every seed as a dot, the
    mean as a bar with the sample standard deviation, the focal baseline's
    mean as a dashed line across its detector's rows (written to
    ``path``)."""
    from mmdet_lossplus.extras import new_figure
    rows = plot_rows(runs, configs)
    fig = new_figure((11, 0.45 * len(rows) + 1.2), 'the results plot')
    ax = fig.subplots()
    for y, (name, values, base, is_base) in enumerate(rows):
        mean = statistics.mean(values)
        err = statistics.stdev(values) if len(values) > 1 else 0.0
        ax.barh(
            y,
            mean,
            xerr=err,
            color='#bdbdbd' if is_base else '#9ecae1',
            capsize=3)
        ax.plot(values, [y] * len(values), 'k.', markersize=6)
        if base is not None:
            ax.vlines(
                base,
                y - 0.45,
                y + 0.45,
                colors='#636363',
                linestyles='dashed',
                linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([row[0] for row in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first row at the top
    ax.set_xlabel('bbox mAP (dots: seeds; bar: mean +- sample std)\n'
                  "grey bar and dashed line: the detector's focal baseline")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _gap(record: dict) -> str:
    ranking = record.get('ranking', {})
    if 'ap_gap' not in ranking:
        return '-'
    return f"{ranking['ap_gap']:+.3f}"


def table(runs: list, configs: list) -> str:
    keys = {run_key(c, 0, 1)[0] for c in configs}
    rows = [r for r in runs if r['config'] in keys]
    lines = [
        '| config | seed | processes | bbox mAP | mAP@50 | mAP@75 | '
        's / iter | batch AP gap, global - per rank (training mean) | '
        'commit |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for r in sorted(
            rows, key=lambda r: (key_of(r)[0], key_of(r)[2:], r['seed'])):
        lines.append(f"| {label(r['config'], r.get('options'))} | "
                     f"{r['seed']} | {r['gpus']} | "
                     f"{r['bbox_mAP']:.3f} | {r['bbox_mAP_50']:.3f} | "
                     f"{r['bbox_mAP_75']:.3f} | {r['s_per_iter']:.3f} | "
                     f"{_gap(r)} | {r['commit']} |")
    return '\n'.join(lines)
