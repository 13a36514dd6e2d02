"""Training overhead of each loss: seconds per iteration relative to the
focal-loss baseline of the same detector, with 1 and 2 processes, and the
share of the iteration spent in the losses (forward + backward of the loss
modules alone, timed inside real training steps).

Each round trains every config for ``--iters`` iterations in one process
(and, with ``--procs 1 2``, in one 2-process gloo job), configs
interleaved, so a ratio compares runs of the same round; the table gives
the median over rounds and the range. The first ``--warmup`` iterations of
each run are not timed. Only meaningful on a machine doing nothing else.

Loss time: every ``loss_*`` module of the head is wrapped by hooks; its
forward is timed directly, its backward from the first gradient reaching
a loss output to the last gradient leaving the losses for their inputs
(the autograd engine runs those nodes before the head's, which were
created earlier). On CUDA each mark synchronises, which slows the run.

Usage:
    python tools/benchmarks/bench_training.py [--rounds 3] [--iters 30] \
        [--procs 1 2] [--configs CONFIG ...]
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from mmdet_lossplus_tools.results.paths import ROOT

CONFIGS = [
    'configs/retinanet/retinanet_r18_fpn_demo.py',
    'configs/ghm/retinanet_r18_fpn_ghm_demo.py',
    'configs/ghm/retinanet_r18_fpn_mmdet-ghm_demo.py',
    'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
    'configs/alrp/retinanet_r18_fpn_alrp_demo.py',
    'configs/iou/retinanet_r18_fpn_ciou_demo.py',
    'configs/atss/atss_r18_fpn_demo.py',
    'configs/atss/atss_r18_fpn_aploss_demo.py',
    'configs/atss/atss_r18_fpn_ranksort_demo.py',
    'configs/fcos/fcos_r18_fpn_demo.py',
    'configs/fcos/fcos_r18_fpn_aploss_demo.py',
]


def _now() -> float:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


class _Mark(torch.autograd.Function):
    """Identity on tensors whose backward tells ``timer`` when a gradient
    passes: ``'out'`` marks a loss output, ``'in'`` a loss input."""

    @staticmethod
    def forward(ctx, timer, kind, *tensors):
        ctx.timer, ctx.kind = timer, kind
        return tuple(t.view_as(t) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        ctx.timer.passed(ctx.kind)
        return (None, None) + grads


def _mark(timer, kind: str, tensors: list) -> list:
    """``tensors`` with the gradient-requiring ones passed through
    :class:`_Mark` (the others unchanged)."""
    idx = [
        i for i, t in enumerate(tensors)
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    if not idx:
        return list(tensors)
    marked = _Mark.apply(timer, kind, *[tensors[i] for i in idx])
    out = list(tensors)
    for i, t in zip(idx, marked):
        out[i] = t
    return out


class LossTimer:
    """Times the forward and backward of loss modules during training.

    ``attach(modules)`` hooks each module; per iteration, ``reset()`` then
    read ``forward_s`` (the sum over loss calls) and ``backward_s`` (first
    gradient at a loss output to last gradient out of a loss input).
    """

    def __init__(self) -> None:
        self.handles = []
        self.reset()

    def reset(self) -> None:
        self.forward_s = 0.0
        self._started = {}
        self._first_out = None
        self._last_in = None

    def passed(self, kind: str) -> None:
        now = _now()
        if kind == 'out':
            if self._first_out is None:
                self._first_out = now
        else:
            self._last_in = now

    @property
    def backward_s(self) -> float:
        if self._first_out is None or self._last_in is None:
            return 0.0
        return self._last_in - self._first_out

    def attach(self, modules: list) -> None:
        for module in modules:
            self.handles.append(
                module.register_forward_pre_hook(
                    self._before, with_kwargs=True))
            self.handles.append(module.register_forward_hook(self._after))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _before(self, module, args, kwargs):
        args = tuple(_mark(self, 'in', list(args)))
        keys = list(kwargs)
        values = _mark(self, 'in', [kwargs[k] for k in keys])
        self._started[id(module)] = _now()
        return args, dict(zip(keys, values))

    def _after(self, module, args, output):
        self.forward_s += _now() - self._started.pop(id(module))
        if isinstance(output, torch.Tensor):
            return _mark(self, 'out', [output])[0]
        if isinstance(output, tuple):
            return tuple(_mark(self, 'out', list(output)))
        return output


def loss_modules(model) -> list:
    """The head's ``loss_*`` modules (DDP-wrapped models too)."""
    model = getattr(model, 'module', model)
    head = model.bbox_head
    return [
        m for name, m in head.named_children()
        if name.startswith('loss_') and isinstance(m, torch.nn.Module)
    ]


def _timing_hook(timer: LossTimer, warmup: int, records: list):
    from mmengine.hooks import Hook

    class TrainingTimeHook(Hook):
        priority = 'VERY_HIGH'

        def before_train(self, runner) -> None:
            timer.attach(loss_modules(runner.model))

        def after_train(self, runner) -> None:
            timer.detach()

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            timer.reset()
            self._start = _now()

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            if runner.iter >= warmup:  # runner.iter counts from 0 here
                records.append(
                    dict(
                        iteration_s=_now() - self._start,
                        loss_forward_s=timer.forward_s,
                        loss_backward_s=timer.backward_s))

    return TrainingTimeHook()


def train_timed(config: str, iters: int, warmup: int, data_root: str,
                launcher: str, work_dir: str) -> list:
    """Per timed iteration ``{iteration_s, loss_forward_s,
    loss_backward_s}`` of training ``config`` for ``iters`` iterations
    (tools/train.py's config handling; no evaluation, no checkpoint, the
    demo runtime's diagnostic hooks removed)."""
    from mmengine.runner import Runner

    from mmdet_lossplus_tools import train
    args = train.parse_args([
        config, '--work-dir', work_dir, '--data-root', data_root, '--launcher',
        launcher, '--cfg-options', f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters + 1}',
        f'default_hooks.checkpoint.interval={iters + 1}',
        'default_hooks.checkpoint.save_last=False',
        f'default_hooks.logger.interval={iters + 1}'
    ])
    cfg = train.build_cfg(args)
    # the demo runtime's histogram, ranking and gallery hooks are
    # diagnostics, not training: left out of what is timed
    cfg.custom_hooks = []
    records = []
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_timing_hook(LossTimer(), warmup, records))
    runner.train()
    return records


def worker(argv) -> None:
    """One process of a timing job: every config in turn, results as one
    JSON line (rank 0) to ``--out``."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--configs', nargs='+', required=True)
    parser.add_argument('--iters', type=int, required=True)
    parser.add_argument('--warmup', type=int, required=True)
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--launcher', default='none')
    args = parser.parse_args(argv)
    from mmdet_lossplus.utils import (init_cpu_process_group,
                                      shutdown_process_group)
    init_cpu_process_group(args.launcher)
    rank = int(os.environ.get('RANK', 0))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, config in enumerate(args.configs):
            results[config] = train_timed(config, args.iters, args.warmup,
                                          args.data_root, args.launcher,
                                          osp.join(tmp, str(k)))
    if rank == 0:
        with open(args.out, 'w') as f:
            json.dump(results, f)
    shutdown_process_group(exit_code=0)


def summarise(records: list) -> dict:
    """Medians over the timed iterations of one run."""
    it = statistics.median(r['iteration_s'] for r in records)
    loss = statistics.median(r['loss_forward_s'] + r['loss_backward_s']
                             for r in records)
    share = statistics.median(
        (r['loss_forward_s'] + r['loss_backward_s']) / r['iteration_s']
        for r in records)
    return dict(iteration_s=it, loss_s=loss, loss_share=share)


def baseline_of(config: str) -> str:
    """The focal baseline of ``config``'s detector: demo_results.py's."""
    from mmdet_lossplus_tools.results.variants import baseline_config
    return baseline_config(config)


def table(rounds: list, procs: int, configs: list) -> str:
    """Markdown rows for one process count from ``rounds`` (a list of
    ``{config: summary}``, one per round)."""
    lines = [
        f'| config ({procs} process{"es" if procs > 1 else ""}) | s / iter '
        '| vs focal of the same detector: median (range) | losses fwd + '
        'bwd, ms / iter | share of the iteration in the losses |',
        '|---|---|---|---|---|'
    ]
    for config in configs:
        base = baseline_of(config)
        ratios = [
            r[config]['iteration_s'] / r[base]['iteration_s'] for r in rounds
        ]
        it = statistics.median(r[config]['iteration_s'] for r in rounds)
        loss = statistics.median(r[config]['loss_s'] for r in rounds)
        share = statistics.median(r[config]['loss_share'] for r in rounds)
        ratio = f'{statistics.median(ratios):.2f}x ' \
            f'({min(ratios):.2f}-{max(ratios):.2f})' if config != base \
            else '1 (baseline)'
        lines.append(f'| `{osp.basename(config)}` | {it:.3f} | {ratio} | '
                     f'{1000 * loss:.1f} | {100 * share:.1f} % |')
    return '\n'.join(lines)


def run_round(configs: list, procs: int, args, tmp: str) -> dict:
    out = osp.join(tmp, f'round_{procs}.json')
    cmd = [
        osp.abspath(__file__), '--worker', '--configs', *configs, '--iters',
        str(args.iters), '--warmup',
        str(args.warmup), '--data-root', args.data_root, '--out', out
    ]
    from mmdet_lossplus_tools.demo import launch_command
    cmd = launch_command(cmd, procs)
    env = dict(
        os.environ,
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    done = subprocess.run(
        cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        lines = (done.stdout + done.stderr).splitlines()
        # the workers' own errors, not only torchrun's summary after them
        errors = [line for line in lines if 'Error' in line][:10]
        tail = '\n'.join(errors + ['...'] + lines[-15:])
        raise SystemExit(f'timing job failed ({procs} processes):\n{tail}')
    with open(out) as f:
        return {c: summarise(r) for c, r in json.load(f).items()}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == '--worker':
        return worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=CONFIGS)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--procs', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'demo'))
    args = parser.parse_args(argv)
    if args.rounds < 1 or not 0 <= args.warmup < args.iters:
        parser.error('need --rounds >= 1 and 0 <= --warmup < --iters')
    if any(p < 1 for p in args.procs):
        parser.error(f'--procs must be >= 1, got {args.procs}')
    configs = [osp.relpath(osp.abspath(c), ROOT) for c in args.configs]
    for config in configs:
        if not osp.isfile(osp.join(ROOT, config)):
            parser.error(f'config not found: {config}')
    configs += [
        b for b in dict.fromkeys(baseline_of(c) for c in configs)
        if b not in configs
    ]
    if not osp.exists(osp.join(args.data_root, 'annotations', 'val.json')):
        subprocess.run([
            sys.executable,
            osp.join(ROOT, 'tools', 'misc', 'make_demo_data.py'), '--out',
            args.data_root
        ],
                       check=True)
    print(
        f'{args.iters} iterations per run, the first {args.warmup} not '
        f'timed; {args.rounds} round(s); torch {torch.__version__}, '
        f'{os.cpu_count()} CPUs',
        flush=True)
    results = {p: [] for p in args.procs}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            for procs in args.procs:
                start = time.time()
                # a different order each round, so drift favours no one
                order = configs[k % len(configs):] + \
                    configs[:k % len(configs)]
                results[procs].append(run_round(order, procs, args, tmp))
                print(
                    f'round {k + 1}/{args.rounds}, {procs} process(es): '
                    f'{time.time() - start:.0f} s',
                    flush=True)
    for procs in args.procs:
        print()
        print(table(results[procs], procs, configs))


if __name__ == '__main__':
    main()
