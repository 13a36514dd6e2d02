"""Train a detector (mmdet's CLI, plus CPU/gloo support and --data-root).

Examples:
    python tools/train.py configs/retinanet/retinanet_r18_fpn_demo.py
    torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch
    bash tools/dist_train.sh CONFIG 8
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmdet_lossplus  # noqa: F401  (registries)
from mmdet_lossplus.utils import (adapt_cfg_to_device,
                                  add_trust_checkpoint_argument,
                                  checkpoint_loading, init_cpu_process_group,
                                  load_tool_config, shutdown_process_group)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (needs a GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a value, from '
        'the latest checkpoint in the work dir')
    parser.add_argument(
        '--data-root',
        help='directory of the data set; replaces data_root in every '
        'dataloader and evaluator of the config')
    parser.add_argument(
        '--dist-timeout',
        type=float,
        default=None,
        help='collective timeout in seconds for CPU (gloo) runs')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (xxx=[a,b] for '
        'lists, nested keys with dots)')
    add_trust_checkpoint_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank / --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.dist_timeout is not None and not 0 < args.dist_timeout < 1e9:
        parser.error('--dist-timeout must be a number of seconds > 0, got '
                     f'{args.dist_timeout}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args: argparse.Namespace) -> Config:
    """The config after command-line overrides, ready for the Runner."""
    cfg = load_tool_config(args)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit(
                '--amp needs a CUDA device: mmengine 0.10.7\'s '
                'AmpOptimWrapper does not run on CPU. Drop --amp here.')
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == \
                'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if cfg.get('auto_scale_lr', None) is None or \
                'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit(
                '--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                'config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    adapt_cfg_to_device(cfg, args.launcher)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    # Before the Runner: mmengine's own init_dist needs CUDA.
    init_cpu_process_group(args.launcher, timeout_s=args.dist_timeout)
    cfg = build_cfg(args)
    # checkpoints (load_from, resume, init_cfg) load in Runner.train
    with checkpoint_loading(args.trust_checkpoint):
        runner = Runner.from_cfg(cfg)
        runner.train()
    shutdown_process_group(exit_code=0)


if __name__ == '__main__':
    main()
