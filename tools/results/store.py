"""The results file: one JSON line per finished run (config, seed,
processes, options, metrics, seconds, commit, environment), appended as
runs finish so that a list of runs can be spread over several sittings."""
import json
import os.path as osp

from .paths import ROOT

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


def append_run(path: str, record: dict) -> None:
    """Add one finished run to the results file."""
    with open(path, 'a') as f:
        f.write(json.dumps(record) + '\n')


def rewrite_runs(path: str, runs: list) -> None:
    """Write ``runs`` as the whole results file (after re-evaluations)."""
    with open(path, 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in runs)


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
