"""Gradient-norm density of a trained detector and how CE, focal loss and
GHM-C reweight it: figure 1 of the GHM paper on your own model.

Runs the model (config + checkpoint) over the first ``--num-images`` images
of the validation set, assigns every anchor as in training, and for every
valid (anchor, class) logit computes ``g = |sigmoid(x) - y|``. Writes a PNG
with (left) the density of ``g`` on a log scale and (right) the gradient
norm each example gets after reweighting, as a function of ``g``: plain
cross-entropy (``g`` itself), focal loss (gamma 2) and GHM-C (``g`` times
``N / (GD(g) * M)`` from the measured density, ``--bins`` bins). Prints the
shares of easy examples and outliers. Works with anchor-based dense heads
(RetinaNet family, including ours).

Usage:
    python tools/analysis_tools/grad_density.py CONFIG CHECKPOINT \
        [--num-images 200] [--out grad_density.png] [--data-root DIR]
"""
import argparse
import math
import os.path as osp
import sys
from typing import Optional

import torch


def focal_gradient_norm(g: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """|d FL / d x| of focal loss (alpha aside) for an example whose plain
    CE gradient norm is ``g``: ``gamma g^gamma (1-g) (-log(1-g)) +
    g^(gamma+1)`` (the same for positives and negatives)."""
    g = g.clamp(0, 1 - 1e-7)
    return gamma * g**gamma * (1 - g) * (-torch.log1p(-g)) + g**(gamma + 1)


def ghm_gradient_norm(counts: torch.Tensor) -> torch.Tensor:
    """GHM-C's reweighted norm per bin: ``centre * N / (count * n)`` with
    ``n`` the non-empty bins (0 where a bin is empty)."""
    m = counts.numel()
    centres = (torch.arange(m, dtype=torch.float64) + 0.5) / m
    nonempty = counts > 0
    n = nonempty.sum().clamp(min=1)
    weight = torch.where(nonempty,
                         counts.sum() / (counts * n), torch.zeros_like(counts))
    return centres * weight


def collect_counts(config: str,
                   checkpoint: str,
                   num_images: int,
                   bins: int,
                   trust: Optional[bool] = None,
                   data_root: Optional[str] = None) -> torch.Tensor:
    """Counts of ``g`` per bin (``bins`` over [0, 1]) over the valid
    (anchor, class) logits of the first ``num_images`` validation images."""
    from mmengine.utils import ProgressBar

    from mmdet_lossplus.hooks import cls_gradient_counts
    from mmdet_lossplus.utils import build_for_analysis
    model, loader = build_for_analysis(
        config, checkpoint, data_root=data_root, trust=trust, split='val')
    model.eval()
    head = model.bbox_head
    if not hasattr(head, 'get_anchors') or head.train_cfg is None:
        raise ValueError('grad_density needs an anchor-based dense head '
                         'with a train_cfg (RetinaNet family)')
    counts = torch.zeros(bins, dtype=torch.float64)
    total = min(num_images, len(loader.dataset))
    bar = ProgressBar(total)
    seen = 0
    with torch.no_grad():
        for data_batch in loader:
            data = model.data_preprocessor(data_batch, training=False)
            samples = data['data_samples']
            cls_scores = head(model.extract_feat(data['inputs']))[0]
            metas = [s.metainfo for s in samples]
            gts = [s.gt_instances for s in samples]
            anchors, valid = head.get_anchors(
                [c.shape[-2:] for c in cls_scores], metas, device='cpu')
            labels, label_weights = head.get_targets(
                anchors, valid, gts, metas, unmap_outputs=True)[:2]
            c = head.cls_out_channels
            for score, lab, w in zip(cls_scores, labels, label_weights):
                logits = score.permute(0, 2, 3, 1).reshape(-1, c)
                counts += cls_gradient_counts(logits, lab.reshape(-1),
                                              w.reshape(-1), bins)
            for _ in samples:
                bar.update()
            seen += len(samples)
            if seen >= total:
                break
    sys.stdout.write('\n')
    return counts


def plot(counts: torch.Tensor, path: str, title: str) -> None:
    from mmdet_lossplus.extras import new_figure
    m = counts.numel()
    centres = (torch.arange(m, dtype=torch.float64) + 0.5) / m
    density = counts / counts.sum().clamp(min=1) * m
    fig = new_figure((11, 4), 'the density plot')
    ax1, ax2 = fig.subplots(1, 2)
    density[counts == 0] = float('nan')  # empty bins: a gap, not a dive
    ax1.semilogy(centres, density)
    ax1.set_xlabel('gradient norm g = |sigmoid(x) - y|')
    ax1.set_ylabel('density (log)')
    ax1.set_title(f'{title}: {int(counts.sum()):,} logits', fontsize=10)
    ax2.semilogy(centres, centres, label='cross-entropy')
    ax2.semilogy(centres, focal_gradient_norm(centres), label='focal, gamma 2')
    ghm = ghm_gradient_norm(counts)
    keep = ghm > 0
    ax2.semilogy(centres[keep], ghm[keep], label='GHM-C (this density)')
    ax2.set_xlabel('original gradient norm g')
    ax2.set_ylabel('reweighted gradient norm per example (log)')
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--num-images', type=int, default=200)
    parser.add_argument('--bins', type=int, default=30)
    parser.add_argument('--out', default='grad_density.png')
    parser.add_argument('--data-root', help='replaces the data root')
    from mmdet_lossplus.utils import add_trust_checkpoint_argument
    add_trust_checkpoint_argument(parser)
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error('--num-images must be >= 1')
    if args.bins < 2:
        parser.error('--bins must be >= 2')
    counts = collect_counts(args.config, args.checkpoint, args.num_images,
                            args.bins, args.trust_checkpoint, args.data_root)
    m = counts.numel()
    share = counts / counts.sum().clamp(min=1)
    easy = float(share[:max(1, int(0.1 * m))].sum())
    outlier = float(share[int(math.ceil(0.9 * m)):].sum())
    plot(counts, args.out, osp.basename(args.checkpoint))
    print(f'{int(counts.sum()):,} logits; g < 0.1: {100 * easy:.2f} %; '
          f'g >= 0.9: {100 * outlier:.4f} %')
    print(f'plot: {args.out}')


if __name__ == '__main__':
    main()
