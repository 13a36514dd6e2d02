"""Multi-bin vs L1 / L2 / (sin, cos) regression on controlled angle tasks.

A small MLP maps a scalar input ``x ~ U[-1, 1]`` to an angle:

* ``bimodal``: the target is ``pi*x`` or ``pi*x + pi`` with equal odds (an
  object that looks the same turned by 180 degrees). A single-mode
  regressor is pulled between the two modes; the error is measured to the
  nearer mode, so picking either one is right.
* ``wrap``: one mode, ``pi + 0.6 x`` wrapped into ``[-pi, pi)``: the
  target jumps from about +pi to -pi in the middle of the input range.

Every method gets the same network, data, optimiser and steps; only the
output encoding and loss differ. Prints a table of mean absolute angular
error (degrees) and the share within 10 degrees.

Usage:
    python tools/analysis_tools/multibin_toy.py   # configs/multibin/README.md
    python tools/analysis_tools/multibin_toy.py --steps 400 --json out.json
"""
import argparse
import json
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

from mmdet_lossplus.coders import (MultiBinCoder, RawAngleCoder,
                                   SinCosAngleCoder, wrap_angle)
from mmdet_lossplus.losses import MultiBinLoss

METHODS = ('l1', 'l2', 'sincos', 'multibin')
TASKS = ('bimodal', 'wrap')


def sample(task: str, n: int, g: torch.Generator):
    """Inputs ``[n, 1]``, targets ``[n]`` and the modes ``[n, M]``."""
    x = torch.rand(n, 1, generator=g) * 2 - 1
    if task == 'bimodal':
        modes = torch.stack([math.pi * x[:, 0], math.pi * x[:, 0] + math.pi],
                            1)
        pick = torch.randint(0, 2, (n, 1), generator=g)
        target = modes.gather(1, pick)[:, 0]
    else:
        modes = (math.pi + 0.6 * x)
        target = modes[:, 0]
    return x, wrap_angle(target), wrap_angle(modes)


def make_method(name: str):
    """(coder, loss function of (pred, encoded target))."""
    if name == 'multibin':
        coder = MultiBinCoder(num_bins=6, overlap=0.3)
        loss = MultiBinLoss(num_bins=6, overlap=0.3)
        return coder, loss
    if name == 'sincos':
        return SinCosAngleCoder(), F.mse_loss
    return RawAngleCoder(), F.l1_loss if name == 'l1' else F.mse_loss


def run(task: str, method: str, steps: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    coder, loss_fn = make_method(method)
    net = nn.Sequential(
        nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, coder.channels))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        x, target, _ = sample(task, 512, g)
        loss = loss_fn(net(x), coder.encode(target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    x, _, modes = sample(task, 4000, g)
    with torch.no_grad():
        pred = coder.decode(net(x))
    err = wrap_angle(pred[:, None] - modes).abs().min(1).values
    err = err * 180 / math.pi
    return dict(
        task=task,
        method=method,
        mae_deg=round(float(err.mean()), 2),
        within_10deg=round(float((err <= 10).float().mean()), 3))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--tasks', nargs='+', default=TASKS, choices=TASKS)
    parser.add_argument(
        '--methods', nargs='+', default=METHODS, choices=METHODS)
    parser.add_argument('--json', help='also write the results here')
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f'--steps must be >= 1, got {args.steps}')
    torch.set_num_threads(1)
    results = []
    for task in args.tasks:
        for method in args.methods:
            print(f'... {task} / {method}', file=sys.stderr, flush=True)
            results.append(run(task, method, args.steps, args.seed))
    print(f'\nAngle error to the nearest true mode, {args.steps} Adam steps '
          'per method, 4,000 test inputs\n')
    print('| task | ' + ' | '.join(args.methods) + ' |')
    print('|---|' + '---|' * len(args.methods))
    for task in args.tasks:
        cells = [
            f"{r['mae_deg']:.1f} deg ({100 * r['within_10deg']:.0f} % "
            '<= 10 deg)' for r in results if r['task'] == task
        ]
        print(f'| {task} | ' + ' | '.join(cells) + ' |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
