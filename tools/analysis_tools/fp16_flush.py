"""Which per-entry gradients of a classification loss survive fp16 mixed
precision: the fraction of the nonzero float32 gradients of the logits that
become 0 (flushed) or subnormal (fewer than 10 bits kept) when the scaled
gradient ``S * g`` is stored in float16, as ``GradScaler`` with loss scale
``S`` makes autocast's fp16 logits receive it.

Emulated on CPU at a COCO-sized case: RetinaNet's initial scores (prior
0.01), ``--entries`` (anchor, class) entries, 1 % of the anchors positive,
5 % ignored; GHM-C (ours, ``mean`` reduction: normalised by every valid
entry, as mmdet's and the paper's) against sigmoid focal loss normalised
by the positive anchors (mmdet's RetinaNet). The losses' own backward
multiplies by the upstream gradient (the scale) in float32 and casts once,
so what flushes here is what the fp16 logits cannot hold.

Usage: python tools/analysis_tools/fp16_flush.py [--entries 32000000]
"""
import argparse

import torch

SCALES = (10, 12, 14, 16)
FP16_MIN_NORMAL = 2.0**-14


def coco_case(entries: int, classes: int = 80, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = entries // classes
    pred = torch.full((n, classes), -4.595)
    pred.add_(torch.randn(n, classes, generator=g), alpha=0.5)
    target = torch.full((n, ), classes, dtype=torch.long)
    pos = torch.rand(n, generator=g) < 0.01
    target[pos] = torch.randint(0, classes, (int(pos.sum()), ), generator=g)
    weight = (torch.rand(n, generator=g) > 0.05).float()
    return pred, target, weight


def ghmc_grad(pred, target, weight):
    from mmdet_lossplus.losses import GHMC
    x = pred.clone().requires_grad_()
    GHMC(bins=30, momentum=0.75)(x, target, weight).backward()
    return x.grad


def focal_grad(pred, target, weight):
    c = pred.shape[1]
    x = pred.clone().requires_grad_()
    y = torch.zeros(pred.shape[0], c + 1)
    y[torch.arange(pred.shape[0]), target] = 1
    y = y[:, :c]
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(
        x, y, reduction='none')
    p_t = p * y + (1 - p) * (1 - y)
    loss = (0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t)**2
    num_pos = ((target < c) & (weight > 0)).sum().clamp_min(1)
    ((loss * weight[:, None]).sum() / num_pos).backward()
    return x.grad


def flush_row(grad: torch.Tensor, log2_scale: int):
    nonzero = grad != 0
    scaled = grad[nonzero] * 2.0**log2_scale
    half = scaled.half()
    flushed = (half == 0).double().mean().item()
    subnormal = ((half != 0) & (half.float().abs() < FP16_MIN_NORMAL))
    return flushed, subnormal.double().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--entries', type=int, default=32_000_000)
    args = parser.parse_args()
    pred, target, weight = coco_case(args.entries)
    grads = {
        'GHM-C': ghmc_grad(pred, target, weight),
        'focal': focal_grad(pred, target, weight)
    }
    print(f'{args.entries:,} entries (RetinaNet initial scores, 1 % '
          'positive anchors); share of the nonzero float32 gradients that '
          'fp16 flushes to 0 / keeps only as subnormals\n')
    print('| loss | median abs gradient | ' +
          ' | '.join(f'S = 2^{s}' for s in SCALES) + ' |')
    print('|---|---|' + '---|' * len(SCALES))
    for name, grad in grads.items():
        cells = []
        for s in SCALES:
            flushed, subnormal = flush_row(grad, s)
            cells.append(f'{100 * flushed:.1f} % / {100 * subnormal:.1f} %')
        median = grad[grad != 0].abs().median().item()
        print(f'| {name} | {median:.1e} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
