"""Issue 26, step 3: switch the loss of a trained detector (the model-zoo
workflow). From the focal-loss demo checkpoint of seed 0, fine-tune 1,000
iterations with each loss, three seeds (the seed changes the data order).

* RetinaNet (focal + L1, seed 0): focal (the control), GHM-C + L1, GHM-C
  + GHM-R, AP-loss, aLRP;
* ATSS (focal, seed 0): focal, Rank & Sort (RS-ATSS has no centerness
  branch: the checkpoint's is left over, and mmengine's log lists its
  keys as unexpected).

A fine-tuning run is the loss's demo config with ``load_from`` the base
checkpoint (loaded through the project's safe loading, as every
``load_from`` of tools/train.py) and the fine-tuning schedule of
``FINETUNE`` as ``--cfg-options``: AdamW at a tenth of the demo's lr, a
50-iteration warm-up, cosine to 1,000. Each finished run is recorded in
``results/finetune.jsonl`` (resumable). A missing base checkpoint is
trained again first and recorded there too (``role='base'``): the run is
deterministic on one machine only, so its mAP may differ from the
recorded demo run's; the table shows both.

The table starts each base with the base checkpoint's own mAP (its
retrained run, else its demo run), so a fine-tuned row reads against
both the starting point and the focal control fine-tuned the same way.

Usage:
    python tools/analysis_tools/finetune.py --train 0 1 2 [--dry-run]
    python tools/analysis_tools/finetune.py [--readme docs/results.md]
    python tools/analysis_tools/finetune.py --batch-ap
    python tools/analysis_tools/finetune.py --record-batch-ap  # from work_dirs
"""
import argparse
import os.path as osp
import statistics

from mmdet_lossplus_tools.results.paths import ROOT
from mmdet_lossplus_tools.results.report import difference, write_readme
from mmdet_lossplus_tools.results.store import (RESULTS, append_run, load_runs,
                                                rewrite_runs)

FINETUNED = osp.join(ROOT, 'results', 'finetune.jsonl')
README_START = '<!-- finetune:start (finetune.py --readme) -->'
README_END = '<!-- finetune:end -->'
BATCH_AP_START = '<!-- finetune-batch-ap:start (finetune.py --readme) -->'
BATCH_AP_END = '<!-- finetune-batch-ap:end -->'
WORK_ROOT = 'work_dirs/results'
FINETUNE = ('train_cfg.max_iters=1000', 'train_cfg.val_interval=1000',
            'optim_wrapper.optimizer.lr=0.0002', 'param_scheduler.0.end=50',
            'param_scheduler.1.begin=50', 'param_scheduler.1.end=1000',
            'param_scheduler.1.T_max=950',
            'default_hooks.checkpoint.interval=1000')
# base checkpoint's config -> the configs fine-tuned from it (control first)
PLAN = {
    'configs/retinanet/retinanet_r18_fpn_demo.py':
    ('configs/retinanet/retinanet_r18_fpn_demo.py',
     'configs/ghm/retinanet_r18_fpn_ghmc-l1_demo.py',
     'configs/ghm/retinanet_r18_fpn_ghm_demo.py',
     'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
     'configs/alrp/retinanet_r18_fpn_alrp_demo.py'),
    'configs/atss/atss_r18_fpn_demo.py':
    ('configs/atss/atss_r18_fpn_demo.py',
     'configs/atss/atss_r18_fpn_ranksort_demo.py'),
}
BASE_SEED = 0


def base_checkpoint(base: str) -> str:
    """Where the base run's last checkpoint is (repository-relative)."""
    from mmdet_lossplus_tools.results.runner import run_dir
    work_dir = run_dir(WORK_ROOT, osp.join(ROOT, base), BASE_SEED, 1)
    return osp.relpath(osp.join(ROOT, work_dir, 'iter_2000.pth'), ROOT)


def base_run(records: list, base: str) -> dict:
    """The run of ``base`` with seed ``BASE_SEED`` on one process without
    options in ``records`` (a demo run, or the ``role='base'`` record of a
    retrained base checkpoint), or None."""
    for r in records:
        if (r['config'], r['seed'], r['gpus']) == (base, BASE_SEED, 1) \
                and not r.get('options'):
            return r
    return None


def ensure_base(base: str, dry_run: bool) -> str:
    """The base checkpoint; when it is missing it is trained again and its
    run recorded in ``FINETUNED`` (``role='base'``), with a note when its
    mAP differs from the recorded demo run's (another machine or commit:
    the run is deterministic on one machine only). SystemExit for a
    checkpoint without that record (nothing says what trained it)."""
    checkpoint = base_checkpoint(base)
    if dry_run:
        return checkpoint
    retrained = base_run(load_runs(FINETUNED), base)
    if osp.isfile(osp.join(ROOT, checkpoint)):
        if retrained is None:
            raise SystemExit(
                f'{checkpoint} is not recorded in {FINETUNED} as a base '
                'run: remove its folder to train it again')
        return checkpoint
    from mmdet_lossplus_tools.results.runner import train_one
    print(
        f'>>> {base} seed {BASE_SEED}: no checkpoint at {checkpoint}; '
        'training it again',
        flush=True)
    record = train_one(osp.join(ROOT, base), BASE_SEED, 1, WORK_ROOT)
    append_run(FINETUNED, dict(record, role='base'))
    demo = base_run(load_runs(RESULTS), base)
    if demo and demo['bbox_mAP'] != record['bbox_mAP']:
        print(
            f">>> note: the retrained base gives bbox mAP "
            f"{record['bbox_mAP']}, its recorded demo run "
            f"{demo['bbox_mAP']}; the fine-tuning starts from the "
            'retrained one (both are in the table)',
            flush=True)
    return checkpoint


def options_for(checkpoint: str) -> list:
    return [f'load_from={checkpoint}', *FINETUNE]


def finetune_table(records: list, bases: dict, demo_runs: list) -> str:
    """Markdown: per base checkpoint, its own mAP (its retrained run in
    ``records``, else its demo run in ``demo_runs``; both when they
    differ), then per loss the fine-tuned mAP over seeds and the
    difference from the focal control in standard errors; ``bases`` maps
    a base config to its checkpoint."""
    lines = [
        '| from | fine-tuned with | seeds | bbox mAP mean +- std | every '
        'seed | vs focal fine-tuned the same way |',
        '|---|---|---|---|---|---|'
    ]
    for base, configs in PLAN.items():
        options = options_for(bases[base])
        demo = base_run(demo_runs, base)
        start = base_run(records, base) or demo
        start = f"{start['bbox_mAP']:.3f}" if start else 'not recorded'
        if demo and start != f"{demo['bbox_mAP']:.3f}":
            start += f" (its demo run: {demo['bbox_mAP']:.3f})"
        lines.append(f'| `{osp.basename(base)}` | nothing: the base '
                     f'checkpoint (seed {BASE_SEED}, 2,000 iterations) | - '
                     f'| {start} | - | - |')
        control = None
        for config in configs:
            rows = sorted(
                (r for r in records
                 if r['config'] == config and r.get('options') == options),
                key=lambda r: r['seed'])
            name = osp.splitext(osp.basename(config))[0]
            if not rows:
                lines.append(f'| `{osp.basename(base)}` | `{name}` | 0 | - '
                             '| - | - |')
                continue
            maps = [r['bbox_mAP'] for r in rows]
            spread = f'{statistics.stdev(maps):.3f}' if len(maps) > 1 \
                else '-'
            if control is None and config == configs[0]:
                control, versus = rows, 'control'
            else:
                versus = difference(rows, control) if control else '-'
            seeds = ', '.join(f"{r['seed']}: {r['bbox_mAP']:.3f}"
                              for r in rows)
            lines.append(f'| `{osp.basename(base)}` | `{name}` | {len(rows)} '
                         f'| {statistics.mean(maps):.3f} +- {spread} | '
                         f'{seeds} | {versus} |')
    return '\n'.join(lines)


def batch_ap(curve: list, first: int, last: int) -> tuple:
    """Mean AP of the training batches' classification ranking over a
    run's ``[[iteration, AP], ...]`` curve (``runner.batch_ap_curve``):
    over iterations ``<= first`` and over its last ``last`` iterations."""
    end = curve[-1][0]
    return (statistics.mean(a for it, a in curve if it <= first),
            statistics.mean(a for it, a in curve if it > end - last))


def run_batch_ap(record: dict) -> list:
    """A fine-tuning run's batch-AP curve: recorded with the run, else read
    from its work dir (runs recorded before the curve was); [] if neither."""
    if record.get('batch_ap'):
        return record['batch_ap']
    from mmdet_lossplus_tools.demo import latest_scalars
    from mmdet_lossplus_tools.results.runner import batch_ap_curve, run_dir
    work_dir = osp.join(
        ROOT,
        run_dir(WORK_ROOT, record['config'], record['seed'], record['gpus'],
                record.get('options', ())))
    if not osp.isdir(work_dir):
        return []
    return batch_ap_curve(latest_scalars(work_dir))


def record_batch_ap(path: str) -> int:
    """Write each run's batch-AP curve, read from its work dir, into the
    records of ``path`` that lack it; the number of records completed."""
    runs, done = load_runs(path), 0
    for record in runs:
        if record.get('role') == 'base' or record.get('batch_ap'):
            continue
        curve = run_batch_ap(record)
        if curve:
            record['batch_ap'], done = curve, done + 1
    if done:
        rewrite_runs(path, runs)
    return done


def batch_ap_table(records: list, bases: dict) -> str:
    """Markdown: per fine-tuned loss, the training batches' ranking AP at
    the start (first 100 iterations) and the end (last 250), means over
    the seeds whose curve is recorded."""
    lines = [
        '| from | fine-tuned with | seeds | batch AP, iterations 1-100 | '
        'batch AP, last 250 iterations |', '|---|---|---|---|---|'
    ]
    for base, configs in PLAN.items():
        options = options_for(bases[base])
        for config in configs:
            curves = [
                run_batch_ap(r) for r in records
                if r['config'] == config and r.get('options') == options
            ]
            pairs = [batch_ap(c, 100, 250) for c in curves if c]
            row = (f'| `{osp.basename(base)}` | '
                   f'`{osp.splitext(osp.basename(config))[0]}` | '
                   f'{len(pairs)} |')
            if not pairs:
                lines.append(f'{row} - | - |')
                continue
            start, end = (statistics.mean(p[k] for p in pairs) for k in (0, 1))
            lines.append(f'{row} {start:.3f} | {end:.3f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--train', type=int, nargs='+', metavar='SEED', help='seeds to run')
    parser.add_argument('--dry-run', action='store_true')
    parser.add_argument(
        '--readme',
        help='also write the table into this markdown file, between its '
        'finetune markers')
    parser.add_argument(
        '--batch-ap',
        action='store_true',
        help='print the training batches\' ranking AP at the start and end '
        'of each fine-tuning')
    parser.add_argument(
        '--record-batch-ap',
        action='store_true',
        help='write the batch-AP curve of runs recorded without it into '
        'results/finetune.jsonl, read from their work dirs')
    args = parser.parse_args(argv)
    if args.train:
        from mmdet_lossplus_tools.analysis_tools import demo_results
        for base, configs in PLAN.items():
            options = options_for(ensure_base(base, args.dry_run))
            demo_results.main([osp.join(ROOT, c) for c in configs] + [
                '--seeds', *map(str, args.train), '--results', FINETUNED,
                '--cfg-options', *options
            ] + (['--dry-run'] if args.dry_run else []))
        return
    if args.record_batch_ap:
        print(f'{record_batch_ap(FINETUNED)} record(s) completed with '
              'their batch-AP curve')
        return
    bases = {base: base_checkpoint(base) for base in PLAN}
    records = load_runs(FINETUNED)
    if args.batch_ap:
        print(batch_ap_table(records, bases))
        return
    text = finetune_table(records, bases, load_runs(RESULTS))
    print(text)
    if args.readme:
        changed = write_readme(args.readme, text, README_START, README_END)
        ap_text = batch_ap_table(records, bases)
        changed |= write_readme(args.readme, ap_text, BATCH_AP_START,
                                BATCH_AP_END)
        print(f"{args.readme}: {'updated' if changed else 'unchanged'}")


if __name__ == '__main__':
    main()
