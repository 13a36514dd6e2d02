"""Loss values and per-branch gradient norms of several configs on the same
model state and batch: how large a loss's push is, compared with another.

Builds each config's detector with the same seed (so the same initial
weights wherever the layers agree), takes the same training batch, and for
every logged loss prints its value and the L2 norm of its gradient with
respect to the head's classification and regression output layers, with
the ratio to the first config's loss of the same kind. The GHM question of
the results issue starts here: our all-level GHM normalises one histogram
over all levels, mmdet's and the authors' sum five per-level losses.

With ``--checkpoints`` (one per config, in order) the weights are the
trained ones instead of the initial ones: the push of each loss at the end
of training.

Usage:
    python tools/analysis_tools/loss_scale.py CONFIG [CONFIG ...] \
        [--checkpoints CKPT ...] [--batches 1] [--seed 0] [--data-root DIR]
"""
import argparse
import os.path as osp

import torch

# the output layer of each branch, by head family
BRANCHES = {
    'cls': ('retina_cls', 'atss_cls', 'conv_cls'),
    'reg': ('retina_reg', 'atss_reg', 'conv_reg'),
}


def branch_weight(head, kind: str):
    for name in BRANCHES[kind]:
        layer = getattr(head, name, None)
        if layer is not None:
            return layer.weight
    raise ValueError(f'{type(head).__name__} has none of {BRANCHES[kind]}')


def measure(config: str,
            seed: int,
            batches: int,
            data_root=None,
            checkpoint=None,
            trust=None) -> list:
    """``[(loss name, value, cls grad norm, reg grad norm)]`` summed over
    ``batches`` training batches at the initial weights (or those of
    ``checkpoint``)."""
    from mmdet_lossplus.utils import build_for_analysis
    model, loader = build_for_analysis(
        config, checkpoint, seed=seed, data_root=data_root, trust=trust)
    model.train()
    head = model.bbox_head
    weights = {k: branch_weight(head, k) for k in BRANCHES}
    totals = {}
    for i, data_batch in enumerate(loader):
        if i >= batches:
            break
        data = model.data_preprocessor(data_batch, training=True)
        losses = model.loss(data['inputs'], data['data_samples'])
        for name, value in losses.items():
            if 'loss' not in name:
                continue
            value = sum(value) if isinstance(value, list) else value
            grads = torch.autograd.grad(
                value, [weights['cls'], weights['reg']],
                retain_graph=True,
                allow_unused=True)
            norms = [0.0 if g is None else float(g.norm()) for g in grads]
            old = totals.get(name, (0.0, 0.0, 0.0))
            totals[name] = (old[0] + float(value), old[1] + norms[0],
                            old[2] + norms[1])
    return [(k, *v) for k, v in totals.items()]


def main(argv=None) -> None:
    from mmdet_lossplus.utils import add_trust_checkpoint_argument
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--batches', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', help='replaces the data root')
    parser.add_argument(
        '--checkpoints',
        nargs='+',
        help='trained weights, one per config in the same order')
    add_trust_checkpoint_argument(parser)
    args = parser.parse_args(argv)
    if args.batches < 1:
        parser.error('--batches must be >= 1')
    checkpoints = args.checkpoints or [None] * len(args.configs)
    if len(checkpoints) != len(args.configs):
        parser.error(f'--checkpoints: {len(checkpoints)} given for '
                     f'{len(args.configs)} configs')
    for path in args.configs + (args.checkpoints or []):
        if not osp.isfile(path):
            parser.error(f'not found: {path}')
    weights = 'trained weights' if args.checkpoints else \
        f'initial weights (seed {args.seed})'
    print(f'{weights}, {args.batches} training batch(es) (seed '
          f"{args.seed}); gradient norms of the head's output layers\n")
    print('| config | loss | value | cls-branch grad norm | reg-branch grad '
          'norm | cls norm / first config\'s | reg norm / first config\'s |')
    print('|---|---|---|---|---|---|---|')
    first = {}
    for config, checkpoint in zip(args.configs, checkpoints):
        rows = measure(config, args.seed, args.batches, args.data_root,
                       checkpoint, args.trust_checkpoint)
        for name, value, cls_norm, reg_norm in rows:
            kind = 'cls' if cls_norm >= reg_norm else 'reg'
            norm = cls_norm if kind == 'cls' else reg_norm
            base = first.setdefault(kind, norm)
            ratio_cls = f'{cls_norm / base:.2f}x' if kind == 'cls' and \
                base else '-'
            ratio_reg = f'{reg_norm / base:.2f}x' if kind == 'reg' and \
                base else '-'
            print(f'| `{osp.basename(config)}` | {name} | {value:.4f} | '
                  f'{cls_norm:.3e} | {reg_norm:.3e} | {ratio_cls} | '
                  f'{ratio_reg} |')


if __name__ == '__main__':
    main()
