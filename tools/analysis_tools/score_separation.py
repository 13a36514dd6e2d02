"""Where a trained detector puts its positive and negative classification
entries: score quantiles, negatives scored above the positives, the AP of
the entry ranking and the gradient-norm histogram split by label.

Loads a checkpoint, runs its config's training loss on a few training
batches (no update) and records what the head hands to ``loss_cls``: the
logits, the labels (background = ``num_classes``) and the label weights,
so every target assignment (RetinaNet, ATSS, FCOS, ours) is the head's own.
Entries are (anchor or point, class) pairs with non-zero weight; an entry
is positive when its anchor's label is that class. The GHM question of the
results issue: whether GHM-C leaves a mass of negatives at mid-range scores
that focal loss pushes down.

Usage:
    python tools/analysis_tools/score_separation.py \
        CONFIG CHECKPOINT [CONFIG CHECKPOINT ...] [--batches 4]
"""
import argparse
import os.path as osp

import torch

QUANTILES = (0.25, 0.5, 0.75)
G_BINS = 10


def entry_scores(logits: torch.Tensor, labels: torch.Tensor, weights) -> tuple:
    """``(positive scores, negative scores)`` of the weighted entries.

    Args:
        logits: ``[N, C]`` classification logits (sigmoid per class).
        labels: ``[N]`` integer labels in ``[0, C]`` (``C``: background) or
            ``[N, C]`` float targets (an entry > 0 is positive).
        weights: ``[N]`` or ``[N, C]`` label weights, or ``None`` (all 1).
    """
    logits = logits.detach().float().reshape(-1, logits.shape[-1])
    num_classes = logits.shape[1]
    if labels.dim() == 1:
        onehot = torch.zeros_like(logits, dtype=torch.bool)
        fg = (labels >= 0) & (labels < num_classes)
        onehot[fg.nonzero().squeeze(1), labels[fg].long()] = True
    else:
        onehot = labels.reshape(-1, num_classes) > 0
    valid = torch.ones_like(onehot)
    if weights is not None:
        weights = weights.reshape(weights.shape[0], -1)
        valid = (weights > 0).expand_as(onehot)
    scores = logits.sigmoid()
    return scores[onehot & valid], scores[~onehot & valid]


def entry_ap(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """AP of the positives in the ranking of all entries by score (ties:
    negatives first, the pessimistic order)."""
    if pos.numel() == 0:
        return float('nan')
    # negatives first, so that the stable sort puts them ahead in ties
    scores = torch.cat([neg, pos]).double()
    is_pos = torch.cat([torch.zeros_like(neg), torch.ones_like(pos)])
    order = torch.sort(scores, descending=True, stable=True).indices
    hits = is_pos[order].double()
    precision = hits.cumsum(0) / torch.arange(
        1, hits.numel() + 1, dtype=torch.float64)
    return float((precision * hits).sum() / hits.sum())


def separation(pos: torch.Tensor, neg: torch.Tensor) -> dict:
    """The statistics this tool prints, from the entries' scores."""
    pos_q = torch.quantile(pos.double(), torch.tensor(QUANTILES).double()) \
        if pos.numel() else torch.full((3, ), float('nan'))
    edges = torch.linspace(0, 1, G_BINS + 1, dtype=torch.float64)
    g_pos = torch.histc((1 - pos).double(), G_BINS, 0, 1)
    g_neg = torch.histc(neg.double(), G_BINS, 0, 1)
    return dict(
        num_pos=pos.numel(),
        num_neg=neg.numel(),
        pos_quantiles=[float(v) for v in pos_q],
        neg_above_0_05=int((neg > 0.05).sum()),
        neg_above_pos_median=int((neg > pos_q[1]).sum()),
        neg_max=float(neg.max()) if neg.numel() else float('nan'),
        entry_ap=entry_ap(pos, neg),
        g_edges=[float(e) for e in edges],
        g_pos=[int(v) for v in g_pos],
        g_neg=[int(v) for v in g_neg])


def collect(config: str,
            checkpoint: str,
            batches: int,
            seed: int,
            data_root=None,
            trust=None) -> tuple:
    """Scores of the positive and negative entries over ``batches``
    training batches (fixed by ``seed``) at the checkpoint's weights."""
    from mmdet_lossplus.hooks import recording_loss_inputs
    from mmdet_lossplus.utils import build_for_analysis
    model, loader = build_for_analysis(
        config, checkpoint, seed=seed, data_root=data_root, trust=trust)
    # train mode for the targets, BN statistics frozen by no update: the
    # loss's inputs are what a training step of this checkpoint sees
    model.train()
    seen = []

    def record(pred, target, weight):
        seen.append(entry_scores(pred, target, weight))

    pos, neg = [], []
    with recording_loss_inputs(model.bbox_head.loss_cls, record):
        with torch.no_grad():
            for i, data_batch in enumerate(loader):
                if i >= batches:
                    break
                data = model.data_preprocessor(data_batch, training=True)
                model.loss(data['inputs'], data['data_samples'])
                for p, n in seen:
                    pos.append(p)
                    neg.append(n)
                seen.clear()
    return torch.cat(pos), torch.cat(neg)


def main(argv=None) -> None:
    from mmdet_lossplus.utils import add_trust_checkpoint_argument
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'pairs', nargs='+', help='CONFIG CHECKPOINT [CONFIG CHECKPOINT ...]')
    parser.add_argument('--batches', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', help='replaces the data root')
    add_trust_checkpoint_argument(parser)
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error('give CONFIG CHECKPOINT pairs')
    if args.batches < 1:
        parser.error('--batches must be >= 1')
    pairs = list(zip(args.pairs[::2], args.pairs[1::2]))
    for config, checkpoint in pairs:
        for path in (config, checkpoint):
            if not osp.isfile(path):
                parser.error(f'not found: {path}')
    stats = []
    for config, checkpoint in pairs:
        pos, neg = collect(config, checkpoint, args.batches, args.seed,
                           args.data_root, args.trust_checkpoint)
        stats.append((osp.basename(config), separation(pos, neg)))
    print(f'{args.batches} training batches (seed {args.seed}); entries = '
          '(anchor, class) pairs with non-zero weight\n')
    print('| config | positives | negatives | positive score q25 / median / '
          'q75 | negatives > 0.05 | negatives > positive median | top '
          'negative | entry AP |')
    print('|---|---|---|---|---|---|---|---|')
    for name, s in stats:
        q = ' / '.join(f'{v:.3f}' for v in s['pos_quantiles'])
        print(f"| `{name}` | {s['num_pos']} | {s['num_neg']} | {q} | "
              f"{s['neg_above_0_05']} | {s['neg_above_pos_median']} | "
              f"{s['neg_max']:.3f} | {s['entry_ap']:.3f} |")
    print('\ngradient norm g = |p - y| per bin of width 0.1 '
          '(positives / negatives)\n')
    edges = stats[0][1]['g_edges']
    print('| config | ' + ' | '.join(f'{edges[k]:.1f}-{edges[k + 1]:.1f}'
                                     for k in range(G_BINS)) + ' |')
    print('|---|' + '---|' * G_BINS)
    for name, s in stats:
        print(f'| `{name}` | ' +
              ' | '.join(f'{p} / {n}'
                         for p, n in zip(s['g_pos'], s['g_neg'])) + ' |')


if __name__ == '__main__':
    main()
