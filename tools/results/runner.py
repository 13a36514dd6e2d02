"""Train and test the demo configs in subprocesses (tools/demo.py,
tools/test.py) and make the record of each run."""
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time

from .paths import ROOT
from .store import METRICS, run_key
from .variants import config_score_thr, training_twin


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


def evaluation_curve(records: list) -> list:
    """``[[iteration, bbox_mAP], ...]`` of every evaluation in a run's
    logged scalars, the iteration being the last training record's before
    it (mmengine logs iteration-based validation with ``step`` 0)."""
    curve, iteration = [], 0
    for r in records:
        if 'loss' in r and 'iter' in r:
            iteration = r['iter']
        elif 'coco/bbox_mAP' in r:
            curve.append([iteration, r['coco/bbox_mAP']])
    return curve


def batch_ap_curve(records: list) -> list:
    """``[[iteration, AP], ...]``: the ranking hook's AP of each logged
    training batch's classification ranking (``ranking/global_ap``, every
    hook interval), in a run's logged scalars."""
    return [[r['iter'], round(r['ranking/global_ap'], 4)] for r in records
            if 'ranking/global_ap' in r and 'iter' in r]


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
    from mmdet_lossplus_tools.demo import latest_scalars
    records = latest_scalars(work_dir)
    final = [r for r in records if 'coco/bbox_mAP' in r][-1]
    iters = [r for r in records if 'loss' in r]
    per_iter = [r['time'] for r in iters if 'time' in r]
    key = run_key(config, seed, gpus)
    extra = dict(options=list(options)) if options else {}
    shift = ranking_shift(records)
    if shift:
        extra['ranking'] = shift
    curve = evaluation_curve(records)
    if len(curve) > 1:  # evaluated along the way: the curve too
        extra['curve'] = curve
    batch_ap = batch_ap_curve(records)
    if batch_ap:  # read back by finetune.py --batch-ap: no work dir needed
        extra['batch_ap'] = batch_ap
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
