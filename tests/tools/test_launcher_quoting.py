"""The shell launchers pass every argument on unchanged (spaces, globs,
parentheses) and never put an empty entry on PYTHONPATH."""
import os
import os.path as osp
import subprocess
import sys

from conftest import DEMO_CONFIG, ROOT, TINY_OPTIONS, free_port

TOOLS = osp.join(ROOT, 'tools')

# records its arguments (NUL-separated) and PYTHONPATH instead of running
_RECORDER = r'''#!/usr/bin/env bash
printf '%s\0' "$@" > "$RECORD"
printf '%s' "${PYTHONPATH-<unset>}" > "$RECORD.pythonpath"
'''

TRICKY = [
    '--cfg-options', 'optim_wrapper.optimizer.betas=(0.9, 0.95)', '*.py',
    'a  b'
]


def _recorder(tmp_path, name):
    path = tmp_path / name
    path.write_text(_RECORDER)
    path.chmod(0o755)
    return str(path)


def _run(tmp_path, args, extra_env):
    record = str(tmp_path / 'record')
    env = {
        k: v
        for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHON')
    }
    env.update(extra_env, RECORD=record)
    # cwd holds files matching '*.py': an unquoted glob would expand
    subprocess.run(['bash'] + args, cwd=TOOLS, env=env, check=True, timeout=60)
    with open(record) as f:
        argv = f.read().split('\0')[:-1]
    with open(record + '.pythonpath') as f:
        return argv, f.read()


def test_dist_train_passes_arguments_unchanged(tmp_path):
    config = str(tmp_path / 'my configs' / 'demo config.py')
    argv, pythonpath = _run(
        tmp_path, [osp.join(TOOLS, 'dist_train.sh'), config, '2'] + TRICKY,
        dict(PYTHON=_recorder(tmp_path, 'python')))
    assert argv[:2] == ['-m', 'torch.distributed.run']
    assert '--nproc_per_node=2' in argv
    tail = argv[argv.index(osp.join(TOOLS, 'train.py')) + 1:]
    assert tail == [config, '--launcher', 'pytorch'] + TRICKY
    assert pythonpath == osp.join(TOOLS, '..')  # no trailing ':'


def test_dist_test_passes_arguments_unchanged(tmp_path):
    config, ckpt = 'a config.py', 'my ckpt*.pth'
    argv, pythonpath = _run(
        tmp_path,
        [osp.join(TOOLS, 'dist_test.sh'), config, ckpt, '1'] + TRICKY,
        dict(PYTHON=_recorder(tmp_path, 'python'), PYTHONPATH='/x y'))
    tail = argv[argv.index(osp.join(TOOLS, 'test.py')) + 1:]
    assert tail == [config, ckpt, '--launcher', 'pytorch'] + TRICKY
    assert pythonpath == osp.join(TOOLS, '..') + ':/x y'


def test_slurm_train_passes_arguments_unchanged(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    _recorder(bin_dir, 'srun')
    argv, pythonpath = _run(
        tmp_path, [
            osp.join(TOOLS, 'slurm_train.sh'), 'part', 'job', 'c d.py',
            'work dir'
        ] + TRICKY,
        dict(
            PATH=f'{bin_dir}:{os.environ["PATH"]}',
            PYTHON='python3',
            SRUN_ARGS='--qos=high --time=1:00'))
    assert argv[:2] == ['-p', 'part']
    assert '--qos=high' in argv and '--time=1:00' in argv
    tail = argv[argv.index(osp.join(TOOLS, 'train.py')) + 1:]
    assert tail == ['c d.py', '--work-dir=work dir', '--launcher=slurm'
                    ] + TRICKY
    assert pythonpath == osp.join(TOOLS, '..')


def test_missing_arguments_print_usage(tmp_path):
    proc = subprocess.run(
        ['bash', osp.join(TOOLS, 'dist_train.sh'), 'x'],
        capture_output=True,
        text=True)
    assert proc.returncode == 2 and 'usage' in proc.stderr


def test_real_run_with_a_spaced_config_path(tmp_path, tiny_data):
    # the whole chain: torchrun, train.py and mmengine's --cfg-options
    folder = tmp_path / 'my configs'
    folder.mkdir()
    config = folder / 'demo config.py'
    config.write_text(f'_base_ = [{DEMO_CONFIG!r}]\n')
    work_dir = str(tmp_path / 'work dir')
    options = [o for o in TINY_OPTIONS if not o.startswith('train_cfg')]
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run(
        [
            'bash', 'tools/dist_train.sh',
            str(config), '1', '--work-dir', work_dir, '--data-root', tiny_data,
            '--cfg-options'
        ] + options + [
            'train_cfg.max_iters=1', 'train_cfg.val_interval=100',
            'optim_wrapper.optimizer.betas=(0.9, 0.95)'
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(osp.join(work_dir, 'demo config.py')) as f:
        dumped = f.read()
    assert 'betas=(\n' in dumped or 'betas=(0.9, 0.95)' in dumped, dumped
