"""Count the host round-trips of a call on CPU, as a proxy for what a GPU
pays: operators that need a value (or a data-dependent size) on the host.

``aten::_local_scalar_dense`` is what ``.item()``, ``bool(tensor)`` and
``int(tensor)`` call; ``nonzero``, ``masked_select``, ``unique`` and
``repeat_interleave`` size their output from the data. ``Tensor.tolist``
and ``Tensor.numpy`` read CPU memory without an operator the profiler
sees (on CUDA they copy to the host), so they are counted by wrapping
them for the duration of the call.
Checks made with ``torch._assert_async`` are not counted: on CUDA they do
not wait for the device (on CPU their implementation reads the flag).
"""
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Dict

import torch
from torch.profiler import ProfilerActivity, profile

SYNC_OPS = ('aten::_local_scalar_dense', 'aten::nonzero',
            'aten::masked_select', 'aten::unique', 'aten::_unique',
            'aten::_unique2', 'aten::unique_consecutive',
            'aten::repeat_interleave')


def _inside_async_assert(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == 'aten::_assert_async':
            return True
        parent = parent.cpu_parent
    return False


@contextmanager
def _counting_host_reads(counts: Counter):
    originals = {
        name: getattr(torch.Tensor, name)
        for name in ('tolist', 'numpy')
    }

    def wrap(name, original):

        def reader(self, *args, **kwargs):
            counts[f'Tensor.{name}'] += 1
            return original(self, *args, **kwargs)

        return reader

    for name, original in originals.items():
        setattr(torch.Tensor, name, wrap(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def count_host_syncs(fn: Callable[[], object]) -> Dict[str, int]:
    """``{operator: calls}`` of the host round-trips ``fn()`` makes
    (nested calls of one round-trip, e.g. ``nonzero`` inside
    ``masked_select``, count once)."""
    counts = Counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof, \
            _counting_host_reads(counts):
        fn()
    for event in prof.events():
        if event.name not in SYNC_OPS or _inside_async_assert(event):
            continue
        parent = event.cpu_parent
        nested = False
        while parent is not None:
            if parent.name in SYNC_OPS:
                nested = True
                break
            parent = parent.cpu_parent
        if not nested:
            counts[event.name] += 1
    return dict(counts)
