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
import os
import os.path as osp

# yapf: disable (isort wraps these)
from mmdet_lossplus_tools.analysis_tools import model_index
from mmdet_lossplus_tools.results.paths import ROOT
from mmdet_lossplus_tools.results.report import (README_END, README_START,
                                                 difference, folder_block,
                                                 folder_configs,
                                                 other_metrics_table, plot,
                                                 plot_rows, summary, table,
                                                 write_folder_readmes,
                                                 write_readme)
from mmdet_lossplus_tools.results.runner import (evaluate_twin,
                                                 evaluation_metrics,
                                                 expected_time, ranking_shift,
                                                 reevaluate, run_dir,
                                                 train_one)
from mmdet_lossplus_tools.results.store import (METRICS, RESULTS, append_run,
                                                key_of, load_runs,
                                                rewrite_runs, run_key)
from mmdet_lossplus_tools.results.variants import (baseline_config,
                                                   config_score_thr,
                                                   current_runs, training_twin)

# yapf: enable

# the command line, and the machinery it is made of (for scripts and tests)
__all__ = [
    'main', 'README_END', 'README_START', 'difference', 'folder_block',
    'folder_configs', 'other_metrics_table', 'plot', 'plot_rows', 'summary',
    'table', 'write_folder_readmes', 'write_readme', 'evaluate_twin',
    'evaluation_metrics', 'expected_time', 'ranking_shift', 'reevaluate',
    'run_dir', 'train_one', 'METRICS', 'RESULTS', 'append_run', 'key_of',
    'load_runs', 'rewrite_runs', 'run_key', 'baseline_config',
    'config_score_thr', 'current_runs', 'training_twin'
]


def update_model_index() -> None:
    """Rewrite the metafiles and model-index.yml, whose metrics come from
    the results file (tools/analysis_tools/model_index.py)."""
    model_index.main([])


def parse_args(argv=None) -> argparse.Namespace:
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
    return args


def reevaluate_stale(args: argparse.Namespace, runs: list) -> None:
    """Test again the checkpoints of the runs evaluated at another score
    cut than their config's current one; rewrite their records."""
    _, stale = current_runs(runs, args.configs)
    print(f'>>> {len(stale)} recorded run(s) to evaluate again', flush=True)
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
        rewrite_runs(args.results, runs)
    if stale and osp.abspath(args.results) == RESULTS:
        update_model_index()


def runs_to_do(args: argparse.Namespace, runs: list) -> list:
    """``(config, seed)`` of the runs not recorded yet, seed by seed (a
    sitting that stops early leaves every row with about as many seeds as
    the others); printed, with each one under ``--dry-run``."""
    done = {key_of(r) for r in runs}
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
    return todo


def run_all(args: argparse.Namespace, runs: list, todo: list) -> None:
    """Train (or test on the twin's training) every run of ``todo``,
    recording each as it finishes."""
    os.makedirs(osp.dirname(osp.abspath(args.results)), exist_ok=True)

    def record(entry: dict) -> None:
        append_run(args.results, entry)
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


def report(args: argparse.Namespace, runs: list) -> None:
    """Print the tables of the recorded runs; write the README blocks and
    the picture when asked."""
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


def main(argv=None) -> None:
    args = parse_args(argv)
    runs = load_runs(args.results)
    if args.reevaluate:
        reevaluate_stale(args, runs)
    elif not args.table:
        todo = runs_to_do(args, runs)
        if args.dry_run:
            return
        run_all(args, runs, todo)
    report(args, runs)


if __name__ == '__main__':
    main()
