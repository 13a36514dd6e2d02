import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(*path):
    """A script under tools/ as a module of the installed tools package
    (``mmdet_lossplus_tools``, setup.py), e.g.
    ``load_tool('analysis_tools', 'demo_results.py')``."""
    import importlib
    name = '.'.join(('mmdet_lossplus_tools', ) + path[:-1] +
                    (osp.splitext(path[-1])[0], ))
    return importlib.import_module(name)


DEMO_CONFIG = osp.join(ROOT, 'configs', 'retinanet',
                       'retinanet_r18_fpn_demo.py')

# A tiny, fast version of the demo run for end-to-end tests.
TINY_OPTIONS = [
    'train_cfg.max_iters=4',
    'train_cfg.val_interval=4',
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=2',
    'custom_hooks.0.num_images=2',
    'custom_hooks.1.interval=2',
    'custom_hooks.2.interval=1',
    'custom_hooks.3.interval=2',
    'param_scheduler.0.end=2',
    # an untrained model scores below 0.05: keep every box so that COCO
    # evaluation has something to evaluate
    'model.test_cfg.score_thr=0.0',
    'param_scheduler.1.begin=2',
    'param_scheduler.1.end=4',
    'param_scheduler.1.T_max=2'
]

# the folders of the tests' shared helpers: on pytest's path (setup.cfg,
# pythonpath) and on every child's
HELPER_PATHS = [osp.join(ROOT, 'tests', d) for d in ('', 'hooks', 'dist')]


def _env(extra=None, drop=()):
    """This process's environment for a child: the repo and the tests'
    helpers importable, one OpenMP thread, ``extra`` set and the ``drop``
    variables removed."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env['PYTHONPATH'] = os.pathsep.join([ROOT] + HELPER_PATHS +
                                        [env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update(extra or {})
    return env


def run_py(args, timeout=600, env=None, check=True):
    """Run a Python command of this repo with a clean, CPU-only env."""
    full_env = _env(env)
    proc = subprocess.run(
        [sys.executable] + list(args),
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'command failed ({proc.returncode}): {args}\n'
                             f'--- stdout ---\n{proc.stdout[-6000:]}\n'
                             f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """A small demo data set (16 train, 6 val images) shared by tests."""
    from mmdet_lossplus.datasets import generate_digits_coco
    out = str(tmp_path_factory.mktemp('digits'))
    generate_digits_coco(out, num_train=16, num_val=6, seed=3)
    return out


def free_port():
    """A TCP port free on this machine now (for torchrun's master)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_together(commands, envs, timeout=600, drop=()):
    """Start ``commands`` (argument lists, run in the repo) at once, each
    with its ``envs`` entry added to the environment (``drop`` removed),
    wait for all and assert every one succeeded; returns their outputs
    (stdout and stderr together)."""
    procs = [
        subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=_env(env, drop),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True) for cmd, env in zip(commands, envs)
    ]
    outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for k, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f'process {k}:\n{out[-4000:]}'
    return outputs


RECORDER = osp.join(ROOT, 'tests', 'dist', 'collective_recorder.py')


def run_torchrun(args, nproc=2, timeout=600, env=None, record=True):
    """Run ``args`` under ``torchrun --nproc_per_node=nproc`` (gloo on CPU),
    ``env`` added to the environment.

    With ``record`` (default) a worker script runs under
    tests/dist/collective_recorder.py: every rank must have issued the same
    collectives (op, shapes, dtypes), or the run fails."""
    import tempfile
    args = list(args)
    record = record and bool(args) and args[0].endswith('.py')
    with tempfile.TemporaryDirectory() as logs:
        if record:
            args = [RECORDER] + args
            env = dict(env or {}, LOSSPLUS_COLLECTIVE_LOG=logs)
        proc = run_py(
            [
                '-m', 'torch.distributed.run', '--nnodes=1',
                f'--nproc_per_node={nproc}', f'--master_port={free_port()}'
            ] + args,
            timeout=timeout,
            env=env)
        if record:
            from collective_recorder import compare_logs
            problem = compare_logs(logs, nproc)
            assert problem is None, problem
    return proc


def train_tiny(work_dir,
               data,
               config=DEMO_CONFIG,
               *,
               flags=(),
               options=TINY_OPTIONS,
               world=1):
    """tools/train.py on ``config`` with ``--cfg-options options`` (the
    tiny run by default) in ``world`` processes (torchrun beyond one)."""
    args = [
        'tools/train.py', config, '--work-dir', work_dir, '--data-root', data
    ] + list(flags) + ['--cfg-options'] + list(options)
    if world == 1:
        return run_py(args)
    return run_torchrun(args[:2] + ['--launcher', 'pytorch'] + args[2:])


def read_scalars(work_dir):
    """Records of the newest run's ``vis_data/scalars.json``."""
    import glob
    import json
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    assert files, f'no scalars.json in {work_dir}'
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]
