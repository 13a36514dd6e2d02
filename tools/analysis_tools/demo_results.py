"""Train and evaluate demo configs, record each finished run, print tables.

Resumable: every finished run (config, seed, processes) is appended to the
results file (one JSON line with its metrics, seconds per iteration, the
commit it started from and the environment) and skipped when the command
runs again, so a list of runs can be spread over several sittings; an
interrupted run is simply started again. Seconds per iteration are only
comparable between runs made on a machine doing nothing else.

Each record carries the test-time score cut it was evaluated at; a run
evaluated at another cut than its config's current one is left out of the
tables (reported), and ``--reevaluate`` tests its saved checkpoint again
at the current cut (seconds, not a new training).

A config that only changes test-time settings of the config it inherits
from (``model.test_cfg``, the test and validation loops, data and
evaluators; e.g. DIoU-NMS on the CIoU training) trains the same network:
its runs are the checkpoints of that config's runs (same seed, processes
and options; trained first when missing) tested with it, recorded with
``trained_by``. Its rows then differ from the twin's by the test-time
change alone, seed for seed.

Prints the bbox mAP over seeds (mean +- sample standard deviation, every
seed) and every run; ``--plot`` draws them.

Examples:
    python tools/analysis_tools/demo_results.py configs/atss/*_demo.py
    python tools/analysis_tools/demo_results.py configs/atss/*_demo.py \
        --seeds 0 1 2
    python tools/analysis_tools/demo_results.py --table --plot atss.png \
        configs/atss/*_demo.py
    python tools/analysis_tools/demo_results.py --reevaluate \
        configs/*/*_demo.py
    python tools/analysis_tools/demo_results.py --dry-run \
        configs/*/*_demo.py --seeds 0 1 2 3
    python tools/analysis_tools/demo_results.py \
        configs/ap_loss/retinanet_r18_fpn_aploss_demo.py --seeds 0 1 2 \
        --gpus 2 --cfg-options train_dataloader.batch_size=4
"""
import argparse
import functools
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
RESULTS = osp.join(ROOT, 'results', 'demo_runs.jsonl')
METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')


def load_runs(path: str) -> list:
    """Every recorded run (an unreadable line is reported, not skipped)."""
    if not osp.exists(path):
        return []
    runs = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise SystemExit(f'{path}:{number}: not a JSON line ({err}); '
                                 'fix or remove it') from err
    return runs


def run_key(config: str, seed: int, gpus: int, options=()) -> tuple:
    """A run's identity: config (repository-relative), seed, processes and
    the ``--cfg-options`` it was trained with."""
    return (osp.relpath(osp.abspath(config), ROOT), seed, gpus, tuple(options))


def key_of(record: dict) -> tuple:
    return (record['config'], record['seed'], record['gpus'],
            tuple(record.get('options', ())))


def label(config: str, options) -> str:
    """``config`` and its options, for the tables and the picture."""
    return f'`{config}`' + (f" with `{' '.join(options)}`" if options else '')


@functools.lru_cache(maxsize=None)
def config_score_thr(config: str):
    """The test-time score cut of ``config`` (``model.test_cfg``; each
    config read once per process)."""
    from mmengine.config import Config
    test_cfg = Config.fromfile(config).model.get('test_cfg') or {}
    return test_cfg.get('score_thr')


def current_runs(runs: list, configs: list) -> tuple:
    """(runs evaluated at their config's current score cut, the others)."""
    cut = {run_key(c, 0, 1)[0]: config_score_thr(c) for c in configs}
    kept, stale = [], []
    for r in runs:
        if r['config'] in cut:
            same = r.get('score_thr', 'unknown') == cut[r['config']]
            (kept if same else stale).append(r)
    return kept, stale


# the parts of a config that only testing reads
TEST_ONLY_KEYS = ('test_cfg', 'test_dataloader', 'test_evaluator',
                  'test_pipeline', 'val_cfg', 'val_dataloader',
                  'val_evaluator')


def _single_base(config: str):
    """The one local file ``config``'s ``_base_`` names, else None (a list
    of bases, a ``scope::`` base or none)."""
    import ast
    with open(config) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        names = [getattr(t, 'id', None) for t in getattr(node, 'targets', [])]
        # a string constant; a list of bases has no ``.value.value``
        base = getattr(getattr(node, 'value', None), 'value', None)
        if '_base_' in names and isinstance(base, str) and '::' not in base:
            return osp.normpath(
                osp.join(osp.dirname(osp.abspath(config)), base))
    return None


def _training_part(config: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(config).to_dict()
    for key in TEST_ONLY_KEYS:
        cfg.pop(key, None)
    cfg.get('model', {}).pop('test_cfg', None)
    return cfg


@functools.lru_cache(maxsize=None)
def training_twin(config: str):
    """The config (repository-relative) that ``config`` inherits from when
    the two differ in test-time settings alone (``TEST_ONLY_KEYS`` and
    ``model.test_cfg``), so they train the same network; else None."""
    base = _single_base(config)
    if base is None or _training_part(config) != _training_part(base):
        return None
    return run_key(base, 0, 1)[0]


def run_dir(work_root: str, config: str, seed: int, gpus: int,
            options=()) -> str:
    name = osp.splitext(osp.basename(config))[0]
    tag = ''
    if options:
        import hashlib
        tag = '_' + hashlib.sha1(' '.join(options).encode()).hexdigest()[:8]
    return osp.join(work_root, f'{name}_seed{seed}_x{gpus}{tag}')


def _commit() -> str:
    """The checked-out commit, ``+dirty`` when tracked files other than
    the recorded results and what is written from them (the model-zoo
    metafiles) differ."""
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=ROOT,
                              capture_output=True,
                              text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run([
            'git', 'status', '--porcelain', '-uno', '--', '.', ':!results',
            ':!model-index.yml', ':!configs/*/metafile.yml'
        ],
                               cwd=ROOT,
                               capture_output=True,
                               text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return head + ('+dirty' if dirty else '')


def environment() -> dict:
    """What a run's seconds depend on: Python, torch, machine, CPUs."""
    import torch
    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        machine=platform.machine(),
        cpus=os.cpu_count())


def evaluation_metrics(logged: dict) -> dict:
    """``METRICS`` of one evaluation's logged metrics (``coco/...``) and,
    under ``other_metrics`` when there are any, the metrics of its other
    evaluators (e.g. ``angle/acc15`` of the orientation metric)."""
    found = {m: logged[f'coco/{m}'] for m in METRICS}
    other = {
        k: v
        for k, v in logged.items() if '/' in k and not k.startswith('coco/')
    }
    return dict(found, other_metrics=other) if other else found


def expected_time(runs: list, todo: list, gpus: int) -> str:
    """``'; about M min left'``: the runs still to do (``(config, seed)``)
    at the mean wall time of their config's recorded runs with ``gpus``
    processes ('' when none of them has one). Test-time variants count
    as nothing: they test their twin's checkpoint (seconds), and the
    twin's training is a run of its own in ``todo``."""
    todo = [(c, s) for c, s in todo if not training_twin(c)]
    walls = {}
    for r in runs:
        if r['gpus'] == gpus and 'wall_s' in r and 'trained_by' not in r:
            walls.setdefault(r['config'], []).append(r['wall_s'])
    known = [
        statistics.mean(walls[key])
        for key in (run_key(c, 0, gpus)[0] for c, _ in todo) if key in walls
    ]
    if not known:
        return ''
    minutes = sum(known) / 60 * len(todo) / len(known)
    return f'; about {minutes:.0f} min left'


def ranking_shift(records: list) -> dict:
    """The ranking hook's per-rank figures in a run's logged scalars
    (present with 2+ processes), averaged over training: ``ap_gap``, the
    global batch AP minus the mean per-rank AP, and ``pos_score_spread``,
    the spread of the ranks' mean positive scores."""
    return {
        k:
        statistics.mean(r[f'ranking/{k}'] for r in records
                        if f'ranking/{k}' in r)
        for k in ('ap_gap', 'pos_score_spread')
        if any(f'ranking/{k}' in r for r in records)
    }


def train_one(config: str, seed: int, gpus: int, work_root: str,
              options=()) -> dict:
    """Train + evaluate ``config`` through tools/demo.py; the record."""
    work_dir = run_dir(work_root, config, seed, gpus, options)
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'demo.py'), config, '--work-dir', work_dir,
        '--gpus',
        str(gpus), '--cfg-options', f'randomness.seed={seed}', *options
    ]
    commit = _commit()  # the code the run starts with
    start = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    seconds = time.time() - start
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from demo import latest_scalars
    records = latest_scalars(work_dir)
    final = [r for r in records if 'coco/bbox_mAP' in r][-1]
    iters = [r for r in records if 'loss' in r]
    per_iter = [r['time'] for r in iters if 'time' in r]
    key = run_key(config, seed, gpus)
    extra = dict(options=list(options)) if options else {}
    shift = ranking_shift(records)
    if shift:
        extra['ranking'] = shift
    return dict(
        config=key[0],
        seed=seed,
        gpus=gpus,
        **extra,
        **evaluation_metrics(final),
        score_thr=config_score_thr(config),
        s_per_iter=sum(per_iter) / len(per_iter) if per_iter else None,
        iterations=iters[-1]['iter'] if iters else None,
        wall_s=round(seconds, 1),
        commit=commit,
        env=environment())


def _checkpoint_of(record: dict, work_root: str) -> str:
    """The last checkpoint of the training behind ``record`` (its twin's
    for a run ``trained_by`` another config). Raises SystemExit when it
    is gone."""
    trained = record.get('trained_by', {}).get('config', record['config'])
    work_dir = run_dir(work_root, osp.join(ROOT, trained), record['seed'],
                       record['gpus'], record.get('options', []))
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise SystemExit(f"{trained} seed {record['seed']} x"
                         f"{record['gpus']}: no checkpoint under {work_dir}; "
                         'remove its line from the results file to train '
                         'it again')
    with open(pointer) as f:
        return f.read().strip()


def evaluate_checkpoint(config: str,
                        checkpoint: str,
                        eval_dir: str,
                        options=(),
                        data_root=None) -> dict:
    """The metrics (``evaluation_metrics``) of tools/test.py testing
    ``checkpoint`` with ``config`` in one process."""
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'test.py'), config, checkpoint, '--work-dir',
        eval_dir, '--data-root', data_root or osp.join(ROOT, 'data', 'demo')
    ] + (['--cfg-options', *options] if options else [])
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        tail = '\n'.join(done.stderr.splitlines()[-15:])
        raise SystemExit(f'testing {checkpoint} with {config} failed:\n{tail}')
    # mmengine writes the test metrics to <work_dir>/<stamp>/<stamp>.json
    stamps = sorted(
        d for d in os.listdir(eval_dir) if osp.isdir(osp.join(eval_dir, d)))
    with open(osp.join(eval_dir, stamps[-1], stamps[-1] + '.json')) as f:
        return evaluation_metrics(json.load(f))


def reevaluate(record: dict, work_root: str, data_root=None) -> dict:
    """``record`` with its metrics from testing its saved checkpoint at
    the config's current score cut (one process; the training is not
    repeated). Raises SystemExit when the checkpoint is gone."""
    config = osp.join(ROOT, record['config'])
    options = record.get('options', [])
    checkpoint = _checkpoint_of(record, work_root)
    eval_dir = osp.join(
        run_dir(work_root, config, record['seed'], record['gpus'], options),
        'reevaluated')
    updated = dict(record)
    updated.update(
        evaluate_checkpoint(config, checkpoint, eval_dir, options, data_root))
    updated['score_thr'] = config_score_thr(config)
    updated['reevaluated'] = dict(
        commit=_commit(), previous_score_thr=record.get('score_thr'))
    return updated


def evaluate_twin(config: str,
                  twin_record: dict,
                  work_root: str,
                  data_root=None) -> dict:
    """The record of ``config``'s run that is ``twin_record``'s training
    (``training_twin(config)``'s run of the same seed, processes and
    options) tested with ``config``: its metrics, the twin's training
    figures (seconds per iteration, iterations) and ``trained_by``."""
    seed, gpus = twin_record['seed'], twin_record['gpus']
    options = twin_record.get('options', [])
    checkpoint = _checkpoint_of(twin_record, work_root)
    start = time.time()
    metrics = evaluate_checkpoint(
        config, checkpoint, run_dir(work_root, config, seed, gpus, options),
        options, data_root)
    extra = dict(options=list(options)) if options else {}
    return dict(
        config=run_key(config, seed, gpus)[0],
        seed=seed,
        gpus=gpus,
        **extra,
        **metrics,
        score_thr=config_score_thr(config),
        s_per_iter=twin_record['s_per_iter'],
        iterations=twin_record.get('iterations'),
        wall_s=round(time.time() - start, 1),
        commit=_commit(),
        trained_by=dict(
            config=twin_record['config'], commit=twin_record['commit']),
        env=environment())


# the focal-loss baseline of each detector type, for the comparison column
BASELINES = {
    'RetinaNet': 'configs/retinanet/retinanet_r18_fpn_demo.py',
    'ATSS': 'configs/atss/atss_r18_fpn_demo.py',
    'FCOS': 'configs/fcos/fcos_r18_fpn_demo.py',
}
README_START = '<!-- demo-results:start (demo_results.py --readme) -->'
README_END = '<!-- demo-results:end -->'


@functools.lru_cache(maxsize=None)
def baseline_config(config: str) -> str:
    """The focal baseline of ``config``'s detector (repository-relative)."""
    from mmengine.config import Config
    kind = Config.fromfile(osp.join(ROOT, config)).model.type
    return BASELINES.get(kind)


def difference(rows: list, base: list) -> str:
    """``mean(rows) - mean(base)`` and, with two seeds or more on both
    sides, that difference in standard errors (Welch: the square root of
    s1^2 / n1 + s0^2 / n0)."""
    a = [r['bbox_mAP'] for r in rows]
    b = [r['bbox_mAP'] for r in base]
    diff = statistics.mean(a) - statistics.mean(b)
    if len(a) < 2 or len(b) < 2:
        return f'{diff:+.3f} (one seed)'
    se = (statistics.variance(a) / len(a) +
          statistics.variance(b) / len(b))**0.5
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
    import glob
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
    import glob
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


def update_model_index() -> None:
    """Rewrite the metafiles and model-index.yml, whose metrics come from
    the results file (tools/analysis_tools/model_index.py)."""
    sys.path.insert(0, HERE)  # tools/ is not a package
    import model_index
    model_index.main([])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', help='demo configs')
    parser.add_argument(
        '--seeds', type=int, nargs='+', default=[0], help='seeds to run')
    parser.add_argument(
        '--gpus', type=int, default=1, help='processes per run')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides for the runs (part of what identifies a '
        'run: the same config with other options is another row)')
    parser.add_argument('--results', default=RESULTS, help='results file')
    parser.add_argument('--work-root', default='work_dirs/results')
    parser.add_argument(
        '--table',
        action='store_true',
        help='only print the tables of the recorded runs')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='list the runs that are not recorded yet (and the time they '
        'are expected to take), train nothing')
    parser.add_argument(
        '--plot', help='also write a picture of the recorded runs (PNG)')
    parser.add_argument(
        '--readme',
        help='also write the summary table into this markdown file, '
        'between its demo-results markers')
    parser.add_argument(
        '--folder-readmes',
        action='store_true',
        help='also rewrite the block of every configs/<folder>/README.md '
        'with markers: that folder\'s demo configs and their baselines')
    parser.add_argument(
        '--reevaluate',
        action='store_true',
        help='test the saved checkpoints of recorded runs evaluated at '
        'another score cut than their config now has, rewrite their '
        'records, and train nothing')
    args = parser.parse_args(argv)
    for config in args.configs:
        if not osp.isfile(config):
            parser.error(f'config not found: {config}')
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    runs = load_runs(args.results)
    if args.reevaluate:
        _, stale = current_runs(runs, args.configs)
        print(
            f'>>> {len(stale)} recorded run(s) to evaluate again', flush=True)
        for k, record in enumerate(stale, 1):
            new = reevaluate(record, args.work_root)
            print(
                f">>> [{k}/{len(stale)}] {record['config']} seed "
                f"{record['seed']} x{record['gpus']}: bbox mAP "
                f"{record['bbox_mAP']:.3f} at score_thr "
                f"{record.get('score_thr')} -> {new['bbox_mAP']:.3f} at "
                f"{new['score_thr']}",
                flush=True)
            runs[runs.index(record)] = new
            # rewrite after each, so an interruption loses nothing
            with open(args.results, 'w') as f:
                f.writelines(json.dumps(r) + '\n' for r in runs)
        if stale and osp.abspath(args.results) == RESULTS:
            update_model_index()
    elif not args.table:
        done = {key_of(r) for r in runs}
        # seed by seed, so a sitting that stops early leaves every row with
        # about as many seeds as the others
        todo = [(c, s) for s in args.seeds for c in args.configs
                if run_key(c, s, args.gpus, args.cfg_options) not in done]
        print(
            f'>>> {len(todo)} run(s) to do, '
            f'{len(args.configs) * len(args.seeds) - len(todo)} recorded' +
            expected_time(runs, todo, args.gpus),
            flush=True)
        if args.dry_run:
            options = ' '.join(args.cfg_options)
            for config, seed in todo:
                twin = training_twin(config)
                print(f'    {osp.relpath(osp.abspath(config), ROOT)} seed '
                      f'{seed} x{args.gpus} {options}'.rstrip() +
                      (f' (tests the training of {twin})' if twin else ''))
            return
        os.makedirs(osp.dirname(osp.abspath(args.results)), exist_ok=True)

        def record(entry: dict) -> None:
            with open(args.results, 'a') as f:
                f.write(json.dumps(entry) + '\n')
            runs.append(entry)

        def recorded(config: str, seed: int) -> dict:
            key = run_key(config, seed, args.gpus, args.cfg_options)
            return next((r for r in runs if key_of(r) == key), None)

        for k, (config, seed) in enumerate(todo, 1):
            if recorded(config, seed):  # a twin trained earlier in the loop
                continue
            twin = training_twin(config)
            print(
                f'>>> [{k}/{len(todo)}] {config} seed {seed}' +
                (f' (the training of {twin}, tested)' if twin else '') +
                expected_time(runs, todo[k - 1:], args.gpus),
                flush=True)
            if not twin:
                record(
                    train_one(config, seed, args.gpus, args.work_root,
                              args.cfg_options))
                continue
            if not recorded(twin, seed):
                print(f'>>> training {twin} seed {seed} first', flush=True)
                record(
                    train_one(
                        osp.join(ROOT, twin), seed, args.gpus, args.work_root,
                        args.cfg_options))
            record(evaluate_twin(config, recorded(twin, seed), args.work_root))
        if todo and osp.abspath(args.results) == RESULTS:
            update_model_index()
    kept, stale = current_runs(runs, args.configs)
    if stale:
        print(f'!!! {len(stale)} recorded run(s) were evaluated at another '
              'score cut than their config now has and are left out; '
              '--reevaluate tests their checkpoints again')
    text = summary(kept, args.configs)
    print(text)
    print()
    if args.readme:
        changed = write_readme(args.readme, text)
        print(f"{args.readme}: {'updated' if changed else 'unchanged'}")
    if args.folder_readmes:
        folders = write_folder_readmes(runs)
        print(f"config READMEs updated: {', '.join(folders) or 'none'}")
    print(table(kept, args.configs))
    if args.plot:
        plot(kept, args.configs, args.plot)
        print(f'picture: {args.plot}')


if __name__ == '__main__':
    main()
