"""Run under torchrun: count what one global ranking-loss call costs each
rank (collectives, bytes, entries sorted and searched), for
bench_ranking_losses.py --scaling. Prints one JSON line on rank 0.

Bytes are the logical payload per rank: an all-reduce of n bytes as a ring
(2 (W-1)/W n sent and received), an all-gather as the other ranks' buffers
(received) and W-1 copies of this rank's (sent).
"""
import argparse
import json

import torch
import torch.distributed as dist

from mmdet_lossplus_tools.benchmarks.bench_ranking_losses import (LOSSES,
                                                                  comm_bytes,
                                                                  make_batch,
                                                                  module_step)


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
    from mmdet_lossplus.core.targets import ranking_labels
    pred, labels, ious, loc = make_batch(args.num_pos, args.num_neg)
    chunks = torch.arange(labels.numel()).chunk(world)
    # what the formula needs, from the whole batch every rank holds (no
    # collective besides the losses' own)
    p_total = int((labels < 80).sum())
    p_max = max(int((labels[c] < 80).sum()) for c in chunks)
    rows = chunks[rank]
    # each positive row's localisation error, in global positive order
    order = torch.cumsum((labels < 80).long(), 0) - 1
    loc = loc[order[rows[labels[rows] < 80]]]
    pred, labels, ious = pred[rows], labels[rows], ious[rows]
    entry = ranking_labels(pred, labels, None).reshape(-1)
    out = {}
    for name in LOSSES:
        with Counter() as count:
            module_step(name, pred, labels, ious, loc)
        out[name] = dict(
            collectives=count.calls,
            sent=int(count.sent),
            received=int(count.received),
            formula_received=comm_bytes(world, p_total, p_max, name)[1],
            sorted=p_total,
            placed=entry.numel())
    dist.barrier()  # no rank leaves while another is still in a collective
    if rank == 0:
        print(json.dumps(out), flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
