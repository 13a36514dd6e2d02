"""The main job: data -> training -> COCO evaluation -> summary + picture.

Generates the demo data when it is missing, trains CONFIG through
tools/train.py (same code path as users), reads the final val metrics from
the run's scalars.json and prints a summary. predictions.png in the work
dir shows detections (left) and ground truth (right) on val images;
gradient_histograms.png and ranking_stats.png show the gradient-norm
density and the batch ranking over training (the runtime's hooks).

Example:
    python tools/demo.py configs/retinanet/retinanet_r18_fpn_demo.py
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)


def launch_command(script_args: list, procs: int) -> list:
    """The command running the Python script ``script_args`` (its path
    first) in ``procs`` processes on this machine: torchrun, standalone,
    with the script's ``--launcher pytorch`` for more than one."""
    if procs > 1:
        return [
            sys.executable, '-m', 'torch.distributed.run', '--standalone',
            f'--nproc_per_node={procs}'
        ] + list(script_args) + ['--launcher', 'pytorch']
    return [sys.executable] + list(script_args)


def latest_scalars(work_dir: str) -> list:
    """Records of the newest run's ``vis_data/scalars.json``."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise SystemExit(f'no scalars.json under {work_dir}: did training '
                         'run?')
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config to train')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='processes (GPUs, or CPU processes with gloo) to train with')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    return parser.parse_args(argv)


def ensure_data(data_root: str) -> None:
    """Write the demo data set to ``data_root`` unless it is there."""
    if osp.exists(osp.join(data_root, 'annotations', 'val.json')):
        return
    print(f'>>> generating demo data in {data_root}', flush=True)
    subprocess.run([
        sys.executable,
        osp.join(HERE, 'misc', 'make_demo_data.py'), '--out', data_root
    ],
                   check=True)


def train(args: argparse.Namespace) -> float:
    """Train + evaluate through tools/train.py; the minutes it took."""
    script = [
        osp.join(HERE, 'train.py'), args.config, '--work-dir', args.work_dir,
        '--data-root', args.data_root
    ]
    if args.cfg_options:
        script += ['--cfg-options'] + args.cfg_options
    cmd = launch_command(script, args.gpus)
    print('>>> ' + ' '.join(cmd), flush=True)
    start = time.time()
    env = dict(
        os.environ,
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    subprocess.run(cmd, check=True, env=env)
    return (time.time() - start) / 60


def print_summary(args: argparse.Namespace, minutes: float) -> None:
    """The run's figures from its logged scalars, and where its pictures
    are."""
    records = latest_scalars(args.work_dir)
    evals = [r for r in records if 'coco/bbox_mAP' in r]
    if not evals:
        raise SystemExit('training finished without a COCO evaluation')
    final = evals[-1]
    losses = [r for r in records if 'loss' in r]
    picture = osp.join(args.work_dir, 'predictions.png')
    print('\n==================== demo summary ====================')
    print(f'config        {args.config}')
    print(f'processes     {args.gpus}')
    print(f'iterations    {losses[-1]["iter"] if losses else "?"}')
    print(f'wall time     {minutes:.1f} min (training + evaluation)')
    if losses:
        print(f'loss          {losses[0]["loss"]:.3f} (first log) -> '
              f'{losses[-1]["loss"]:.3f} (last log)')
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s',
                'bbox_mAP_m', 'bbox_mAP_l'):
        value = final.get(f'coco/{key}')
        if value is not None:
            print(f'{key:<13} {value:.3f}')
    print(f'predictions   {picture}'
          f'{"" if osp.exists(picture) else " (missing!)"}')
    for label, name in (('gradients', 'gradient_histograms.png'),
                        ('ranking', 'ranking_stats.png')):
        path = osp.join(args.work_dir, name)
        if osp.exists(path):
            print(f'{label:<13} {path}')
    last = losses[-1] if losses else {}
    if 'grad_hist/cls_easy' in last:
        print(f'easy logits   {100 * last["grad_hist/cls_easy"]:.2f} % of '
              'classification logits have g < 0.1 (last histogram)')
    if 'ranking/global_ap' in last:
        print(f'batch AP      {last["ranking/global_ap"]:.3f} (last '
              'training batch, global ranking)')
    print(f'logs          {args.work_dir}')
    print('======================================================')


def main(argv=None) -> None:
    args = parse_args(argv)
    ensure_data(args.data_root)
    minutes = train(args)
    print_summary(args, minutes)


if __name__ == '__main__':
    main()
