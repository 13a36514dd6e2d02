"""Evaluate a checkpoint (mmdet's CLI, plus CPU/gloo support).

Example:
    python tools/test.py CONFIG work_dirs/demo/iter_1200.pth
"""
import argparse
import os

from mmengine.config import DictAction
from mmengine.runner import Runner

import mmdet_lossplus  # noqa: F401  (registries)
from mmdet_lossplus.utils import (adapt_cfg_to_device,
                                  add_trust_checkpoint_argument,
                                  checkpoint_loading, init_cpu_process_group,
                                  load_tool_config, shutdown_process_group)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='dump predictions to a pickle file (offline eval)')
    parser.add_argument(
        '--show-dir',
        help='directory (inside the work dir) where painted images are saved')
    parser.add_argument(
        '--data-root', help='directory of the data set (see train.py)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    add_trust_checkpoint_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    init_cpu_process_group(args.launcher)
    cfg = load_tool_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.draw = True
        vis.test_out_dir = args.show_dir
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must be a .pkl or .pickle file')
        cfg.test_evaluator = [
            cfg.test_evaluator
        ] if not isinstance(cfg.test_evaluator, list) else cfg.test_evaluator
        cfg.test_evaluator.append(
            dict(type='DumpDetResults', out_file_path=args.out))
    adapt_cfg_to_device(cfg, args.launcher)
    with checkpoint_loading(args.trust_checkpoint):
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    shutdown_process_group(exit_code=0)
    return metrics


if __name__ == '__main__':
    main()
