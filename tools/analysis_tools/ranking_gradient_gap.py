"""How far the per-process gradient of a ranking loss (AP-loss, Rank &
Sort, aLRP) is from the global one: the mechanism behind "score shift",
measured on a fixed model state.

For a config and checkpoint, every image's classification entries (logits,
the head's own labels and, for Rank & Sort the IoU targets, for aLRP the
localisation errors of its positives) are computed once (eval mode: each
image's logits do not depend on the others). A global batch of ``W x I``
images is then split over ``W`` simulated processes of ``I`` images each,
and two per-entry updates (the gradient the loss sends to each logit; Rank
& Sort: ranking plus sorting part) are compared:

- global: the loss over the whole batch (what ``scope='global'`` computes
  on any number of processes, and one process with the whole batch);
- per-process: each process's loss over its own images, divided by ``W``
  (DDP averages the processes' gradients);
- per-process ranking, global count: each process's update rescaled by
  its share of the batch's positives instead of ``1 / W``, which separates
  the ranking's part of the gap from the normalisation's (a process with
  few positives weighs each of them more in the per-process mode).

Reported: the relative distance ``|u_local - u_global| / |u_global|`` and
the cosine of the two (and the distance of the rescaled one), averaged
over ``--draws`` random batches, for every ``W`` and ``I``, with the
images dealt to processes at random or grouped by object count (a
systematic difference between processes, as batches grouped by size or
content on real clusters). ``--plot`` draws it.

The loss is the config's ``loss_cls`` (``--delta`` replaces its ``delta``).

Usage:
    python tools/analysis_tools/ranking_gradient_gap.py CONFIG CHECKPOINT \
        [--procs 1 2 4 8] [--images 1 2 4 8] [--draws 5] [--plot gap.png]
"""
import argparse
import os.path as osp
import random
import statistics

import torch

SPLITS = ('random', 'by-objects')
# loss_cls class name -> the loss whose update this tool computes
KINDS = {'APLoss': 'ap', 'RankSortLoss': 'rank-sort', 'aLRPLoss': 'alrp'}


def loss_kind(loss: torch.nn.Module) -> str:
    """``'ap'``, ``'rank-sort'`` or ``'alrp'`` for a ``loss_cls`` module."""
    kind = KINDS.get(type(loss).__name__)
    if kind is None:
        raise SystemExit(f'loss_cls is {type(loss).__name__}; this tool '
                         f'measures {", ".join(KINDS)}')
    return kind


def call_entries(kind: str, args: tuple, kwargs: dict) -> tuple:
    """``(scores [M] float64, labels [M] int8, values [P] float64)`` of one
    ``loss_cls`` call: flat logits, ranking labels (1 / 0 / -1 ignored) and
    per positive, in order, the Rank & Sort IoU target or the aLRP
    localisation error (empty for AP-loss)."""
    from mmdet_lossplus.core.targets import rank_sort_targets, ranking_labels
    from mmdet_lossplus.hooks import loss_call_args
    pred, target, weight = loss_call_args(args, kwargs)
    pred = pred.detach()
    if kind == 'rank-sort':
        labels, targets, columns = rank_sort_targets(pred, args[1], weight)
        pos = (labels == 1).nonzero().squeeze(1)
        values = targets[torch.div(pos, columns, rounding_mode='floor')]
    else:
        labels = ranking_labels(pred, target, weight).reshape(-1)
        values = kwargs['loc_errors'].detach() if kind == 'alrp' else \
            pred.new_zeros(0)
    return pred.reshape(-1).double(), labels, values.double()


def per_image_entries(config: str,
                      checkpoint: str,
                      num_images: int,
                      data_root=None,
                      trust=None) -> tuple:
    """``(kind, delta, [(scores [M_i], labels [M_i] int8, values [P_i],
    objects)])`` for the first ``num_images`` training images: the loss
    (``loss_kind``) and its ``delta``, and per image what
    :func:`call_entries` reads from the head's ``loss_cls`` calls."""
    from mmdet_lossplus.hooks import recording_loss_inputs
    from mmdet_lossplus.utils import build_for_analysis
    model, loader = build_for_analysis(
        config,
        checkpoint,
        data_root=data_root,
        trust=trust,
        loader_options=dict(
            batch_size=1, sampler=dict(type='DefaultSampler', shuffle=False)))
    model.eval()
    loss = model.bbox_head.loss_cls
    kind = loss_kind(loss)
    seen = []

    def record(args, kwargs):
        seen.append(call_entries(kind, args, kwargs))

    entries = []
    with recording_loss_inputs(loss, record, raw=True):
        with torch.no_grad():
            for data_batch in loader:
                if len(entries) >= num_images:
                    break
                data = model.data_preprocessor(data_batch, training=True)
                model.loss(data['inputs'], data['data_samples'])
                parts = [torch.cat(p) for p in zip(*seen)]
                seen.clear()
                objects = len(data['data_samples'][0].gt_instances)
                entries.append((*parts, objects))
    if len(entries) < num_images:
        raise SystemExit(f'the data set has {len(entries)} training images, '
                         f'{num_images} needed')
    return kind, float(loss.delta), entries


def loss_update(kind: str, scores: torch.Tensor, labels: torch.Tensor,
                values: torch.Tensor, delta: float) -> torch.Tensor:
    """The per-entry update ``[M]`` (float64) of one ranking of ``kind``
    (``values``: see :func:`call_entries`)."""
    if kind == 'ap':
        from mmdet_lossplus.functional.ap_loss import ap_loss_with_update
        return ap_loss_with_update(scores, labels, delta).update
    if kind == 'rank-sort':
        from mmdet_lossplus.functional.rank_sort import rank_sort_with_update
        out = rank_sort_with_update(scores, labels, values, delta)
        update = out.ranking_update.double().clone()
        return update.index_add_(0, out.pos_idx, out.sorting_update.double())
    if kind == 'alrp':
        from mmdet_lossplus.functional.alrp import alrp_with_update
        return alrp_with_update(scores, labels, values, delta).update
    raise ValueError(f"kind must be one of 'ap', 'rank-sort', 'alrp', got "
                     f'{kind!r}')


def gradient_gap(images: list, procs: int, delta: float = 1.0, kind='ap'):
    """Relative distance and cosine between the per-process and the global
    update of ``images`` (``[(scores, labels[, values])]``, dealt in order
    to ``procs`` equal groups); None when the batch has no positive (both
    updates are zero)."""
    if len(images) % procs:
        raise ValueError(f'{len(images)} images do not split over {procs} '
                         'processes')
    images = [
        im if len(im) == 3 else (*im, im[0].new_zeros(0)) for im in images
    ]

    def update_of(group):
        return loss_update(kind, *(torch.cat(p) for p in zip(*group)), delta)

    per = len(images) // procs
    glob = update_of(images)
    total_pos = sum(int((lab == 1).sum()) for _, lab, _ in images)
    local, counted = [], []
    for r in range(procs):
        group = images[r * per:(r + 1) * per]
        update = update_of(group)
        local.append(update / procs)
        group_pos = sum(int((lab == 1).sum()) for _, lab, _ in group)
        counted.append(update * group_pos / max(total_pos, 1))
    local, counted = torch.cat(local), torch.cat(counted)
    norm = glob.norm()
    if norm == 0:
        return None
    return dict(
        relative=float((local - glob).norm() / norm),
        relative_ranking=float((counted - glob).norm() / norm),
        cosine=float((local @ glob) / (local.norm() * norm)))


def deal(entries: list, procs: int, per: int, split: str,
         rng: random.Random) -> list:
    """``procs * per`` images drawn from ``entries`` (tuples ending in the
    image's object count), ordered so that consecutive groups of ``per``
    are the processes' batches (the object count dropped)."""
    chosen = rng.sample(range(len(entries)), procs * per)
    if split == 'by-objects':
        # each process gets images of similar object counts
        chosen.sort(key=lambda i: (entries[i][-1], i))
    return [entries[i][:-1] for i in chosen]


def sweep(entries: list,
          procs_list: list,
          images_list: list,
          draws: int,
          delta: float = 1.0,
          seed: int = 0,
          kind: str = 'ap') -> list:
    """Rows ``{split, procs, images, relative, relative_std,
    relative_ranking, cosine, draws}`` (batches without a positive are
    left out of ``draws``)."""
    rows = []
    for split in SPLITS:
        for procs in procs_list:
            for per in images_list:
                rng = random.Random(seed)
                gaps = [
                    gradient_gap(
                        deal(entries, procs, per, split, rng), procs, delta,
                        kind) for _ in range(draws)
                ]
                gaps = [g for g in gaps if g is not None]
                if not gaps:
                    continue
                rel = [g['relative'] for g in gaps]
                rows.append(
                    dict(
                        split=split,
                        procs=procs,
                        images=per,
                        relative=statistics.mean(rel),
                        relative_std=statistics.stdev(rel)
                        if len(rel) > 1 else 0.0,
                        relative_ranking=statistics.mean(g['relative_ranking']
                                                         for g in gaps),
                        cosine=statistics.mean(g['cosine'] for g in gaps),
                        draws=len(gaps)))
    return rows


def plot(rows: list, path: str) -> None:
    from mmdet_lossplus.extras import new_figure
    fig = new_figure((10, 3.8), 'the gradient-gap plot')
    axes = fig.subplots(1, len(SPLITS), sharey=True)
    for ax, split in zip(axes, SPLITS):
        mine = [r for r in rows if r['split'] == split]
        for k, per in enumerate(sorted({r['images'] for r in mine})):
            line = sorted((r for r in mine if r['images'] == per),
                          key=lambda r: r['procs'])
            procs = [r['procs'] for r in line]
            ax.errorbar(
                procs, [r['relative'] for r in line],
                yerr=[r['relative_std'] for r in line],
                marker='o',
                capsize=3,
                color=f'C{k}',
                label=f'{per} image(s) / process')
            ax.plot(
                procs, [r['relative_ranking'] for r in line],
                '--',
                color=f'C{k}',
                alpha=0.7)
        ax.set_xscale('log', base=2)
        ax.set_xlabel('processes')
        ax.set_title(
            f'images dealt {split} (dashed: ranking part only)', fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('|u_local - u_global| / |u_global|')
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> None:
    from mmdet_lossplus.utils import add_trust_checkpoint_argument
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--procs', type=int, nargs='+', default=[1, 2, 4, 8])
    parser.add_argument('--images', type=int, nargs='+', default=[1, 2, 4, 8])
    parser.add_argument('--draws', type=int, default=10)
    parser.add_argument(
        '--delta', type=float, help="replaces the loss's delta")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', help='replaces the data root')
    parser.add_argument('--plot', help='write the picture here (PNG)')
    add_trust_checkpoint_argument(parser)
    args = parser.parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            parser.error(f'not found: {path}')
    if min(args.procs + args.images) < 1 or args.draws < 1:
        parser.error('--procs, --images and --draws must be >= 1')
    # twice the largest batch, so that even it is a draw
    needed = 2 * max(args.procs) * max(args.images)
    kind, delta, entries = per_image_entries(args.config, args.checkpoint,
                                             needed, args.data_root,
                                             args.trust_checkpoint)
    if args.delta is not None:
        delta = args.delta
    rows = sweep(entries, args.procs, args.images, args.draws, delta,
                 args.seed, kind)
    print(f'{osp.basename(args.config)} ({kind}, delta {delta:g}) at '
          f'{args.checkpoint}; {needed} training images, {args.draws} random '
          'batches per cell\n')
    print('| images dealt | processes | images / process | relative '
          'distance (mean +- std) | cosine | relative distance, per-process '
          'ranking with the global count | batches |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['split']} | {r['procs']} | {r['images']} | "
              f"{r['relative']:.3f} +- {r['relative_std']:.3f} | "
              f"{r['cosine']:.3f} | {r['relative_ranking']:.3f} | "
              f"{r['draws']} |")
    if args.plot:
        plot(rows, args.plot)
        print(f'\npicture: {args.plot}')


if __name__ == '__main__':
    main()
