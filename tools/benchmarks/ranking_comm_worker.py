"""Run under torchrun: count what one global ranking-loss call costs each
rank (collectives, bytes, entries sorted and searched), for
bench_ranking_losses.py --scaling. Prints one JSON line on rank 0.

Bytes are the logical payload per rank: an all-reduce of n bytes as a ring
(2 (W-1)/W n sent and received), an all-gather as the other ranks' buffers
(received) and W-1 copies of this rank's (sent).
"""
import argparse
import json
import os.path as osp
import sys

import torch
import torch.distributed as dist
from bench_ranking_losses import LOSSES, comm_bytes, make_batch  # noqa: E402

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


class Counter:
    """Wraps torch.distributed's all_reduce and all_gather."""

    def __init__(self) -> None:
        self.calls = 0
        self.sent = 0.0
        self.received = 0.0
        self._orig = (dist.all_reduce, dist.all_gather)

    def __enter__(self):
        world = dist.get_world_size()
        reduce_, gather = self._orig

        def all_reduce(tensor, *args, **kwargs):
            n = tensor.numel() * tensor.element_size()
            self.calls += 1
            self.sent += 2 * (world - 1) / world * n
            self.received += 2 * (world - 1) / world * n
            return reduce_(tensor, *args, **kwargs)

        def all_gather(outputs, tensor, *args, **kwargs):
            n = tensor.numel() * tensor.element_size()
            self.calls += 1
            self.sent += (world - 1) * n
            self.received += (world - 1) * n
            return gather(outputs, tensor, *args, **kwargs)

        dist.all_reduce, dist.all_gather = all_reduce, all_gather
        return self

    def __exit__(self, *exc):
        dist.all_reduce, dist.all_gather = self._orig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--num-pos', type=int, default=1000)
    parser.add_argument('--num-neg', type=int, default=200000)
    args = parser.parse_args()
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    pred, labels, ious, loc = make_batch(args.num_pos, args.num_neg)
    rows = torch.arange(labels.numel()).chunk(world)[rank]
    # each positive row's localisation error, in global positive order
    order = torch.cumsum((labels < 80).long(), 0) - 1
    mine_rows = rows[labels[rows] < 80]
    pred, labels, ious = pred[rows], labels[rows], ious[rows]
    loc = loc[order[mine_rows]]
    from mmdet_lossplus.functional.ranking import kept_negatives
    from mmdet_lossplus.losses import APLoss, RankSortLoss, aLRPLoss
    from mmdet_lossplus.losses.targets import ranking_labels
    out = {}
    for name in LOSSES:
        x = pred.clone().requires_grad_()
        with Counter() as count:
            if name == 'ap':
                APLoss()(x, labels).backward()
            elif name == 'rs':
                sum(RankSortLoss()(x, (labels, ious))).backward()
            else:
                errors = loc.clone().requires_grad_()
                sum(aLRPLoss(sb_interval=10**9)(x, labels,
                                                loc_errors=errors)).backward()
        flat = pred.reshape(-1)
        lab = ranking_labels(pred, labels, None).reshape(-1)
        delta = 0.5 if name == 'rs' else 1.0
        mine = flat[lab == 1]
        min_pos = mine.min() if mine.numel() else torch.tensor(float('inf'))
        dist.all_reduce(min_pos, op=dist.ReduceOp.MIN)
        placed = int(kept_negatives(flat, lab, min_pos.double(), delta).sum())
        sizes = torch.tensor([int(mine.numel())])
        dist.all_reduce(sizes)
        p_ranks = [torch.zeros(1, dtype=torch.long) for _ in range(world)]
        dist.all_gather(p_ranks, torch.tensor([int(mine.numel())]))
        formula = comm_bytes(world, int(sizes), max(int(p) for p in p_ranks),
                             name)[1]
        out[name] = dict(
            collectives=count.calls,
            sent=int(count.sent),
            received=int(count.received),
            formula_received=formula,
            sorted=int(sizes),
            placed=placed)
    if rank == 0:
        print(json.dumps(out), flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
