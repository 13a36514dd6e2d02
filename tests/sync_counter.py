"""Count the host round-trips of a call on CPU, as a proxy for what a GPU
pays: operators that need a value (or a data-dependent size) on the host.

``aten::_local_scalar_dense`` is what ``.item()``, ``bool(tensor)`` and
``.tolist()`` of a scalar call; ``nonzero``, ``masked_select``,
``unique`` and ``repeat_interleave`` size their output from the data.
Checks made with ``torch._assert_async`` are not counted: on CUDA they do
not wait for the device (on CPU their implementation reads the flag).
"""
from collections import Counter
from typing import Callable, Dict

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


def count_host_syncs(fn: Callable[[], object]) -> Dict[str, int]:
    """``{operator: calls}`` of the host round-trips ``fn()`` makes
    (nested calls of one round-trip, e.g. ``nonzero`` inside
    ``masked_select``, count once)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    counts = Counter()
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
