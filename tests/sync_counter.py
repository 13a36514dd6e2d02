"""Count, on CPU, the host synchronisations a call would make on CUDA, and
the operators that CUDA refuses under deterministic algorithms.

A CPU profiler misses most syncs: on CPU nothing waits. A
``TorchDispatchMode`` sees every aten operator the call dispatches and
flags those that wait for the device on CUDA:

* ``_local_scalar_dense`` (``item``, ``bool()``, ``int()``, ``float()``);
* operators that size their output from the data: ``nonzero``,
  ``masked_select``, the ``unique`` family, ``bincount`` (it reads the
  largest index), ``repeat_interleave`` without ``output_size``, indexing
  and index-put with a boolean mask;
* ``lift_fresh``: a tensor made from Python data (``torch.tensor``,
  ``new_tensor``, ``as_tensor`` of numbers), a pageable host-to-device
  copy when the target is a CUDA device;
* ``Tensor.tolist``, ``Tensor.numpy`` and ``Tensor.cpu`` (device-to-host
  copies on CUDA; on CPU they dispatch nothing, so they are wrapped for the
  duration of the call).

``_assert_async`` does not wait on CUDA, but a failure there is a
device-side assertion that kills the process: it is reported apart
(``device_asserts``).

Code that picks a branch by device must be made to take its CUDA branch
(``torch_compat.FORCE_PORTABLE``) for the count to mean anything.
"""
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Dict, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

_SYNC_PACKETS = {
    aten._local_scalar_dense: 'item',
    aten.nonzero: 'nonzero',
    aten.masked_select: 'masked_select',
    aten._unique: 'unique',
    aten._unique2: 'unique',
    aten.unique_dim: 'unique',
    aten.unique_consecutive: 'unique',
    aten.bincount: 'bincount',
    aten.lift_fresh: 'host-to-device copy',
}
_MASK_INDEXING = (aten.index, aten.index_put, aten.index_put_,
                  aten._index_put_impl_)

# What raises on CUDA under torch.use_deterministic_algorithms(True) in the
# supported range (torch 2.1 and later), from the list in the docstring of
# torch.use_deterministic_algorithms
# (https://pytorch.org/docs/2.1/generated/torch.use_deterministic_algorithms.html)
# and, for cumsum, pytorch issue 89492 / PR 136224 (float cumsum on CUDA
# raised there until torch 2.6). Given as (packet, condition on the call).
_DETERMINISTIC_RAISES = {
    aten.bincount: 'bincount with weights',
    aten.histc: 'histc',
    aten.kthvalue: 'kthvalue',
    aten.median: 'median with indices',
    aten.nanmedian: 'median with indices',
    aten.put_: 'put_',
    aten.put: 'put_',
    aten.cumsum: 'floating cumsum',
    aten.scatter_reduce: 'scatter_reduce (prod/amax/amin)',
    aten.index_reduce: 'index_reduce',
    aten.avg_pool3d_backward: 'AvgPool3d backward',
    aten._adaptive_avg_pool2d_backward: 'AdaptiveAvgPool2d backward',
    aten.max_pool3d_with_indices_backward: 'MaxPool3d backward',
    aten.grid_sampler_2d_backward: 'grid_sample backward',
    aten.embedding_bag: 'EmbeddingBag (max mode)',
    aten.nll_loss2d_backward: 'NLLLoss2d backward',
    aten.ctc_loss: 'CTCLoss',
    aten.upsample_bilinear2d_backward: 'interpolate backward',
}


def _is_mask(index) -> bool:
    return torch.is_tensor(index) and index.dtype in (torch.bool, torch.uint8)


def _sync_kind(func, args, kwargs):
    packet = func.overloadpacket
    if packet in _SYNC_PACKETS:
        return _SYNC_PACKETS[packet]
    if packet in _MASK_INDEXING and len(args) > 1 and any(
            _is_mask(i) for i in args[1] if i is not None):
        return 'boolean-mask indexing'
    if packet is aten.repeat_interleave and \
            kwargs.get('output_size') is None:
        return 'repeat_interleave without output_size'
    return None


def _deterministic_refusal(func, args, kwargs):
    packet = func.overloadpacket
    what = _DETERMINISTIC_RAISES.get(packet)
    if what is None:
        return None
    if packet is aten.bincount:
        weights = args[1] if len(args) > 1 else kwargs.get('weights')
        return what if weights is not None else None
    if packet is aten.cumsum:
        dtype = kwargs.get('dtype') or args[0].dtype
        return what if dtype.is_floating_point else None
    if packet is aten.scatter_reduce:
        reduce = args[3] if len(args) > 3 else kwargs.get('reduce')
        return what if reduce in ('prod', 'amax', 'amin') else None
    if packet in (aten.median, aten.nanmedian):
        return what if len(args) > 1 or 'dim' in kwargs else None
    return what


class CudaBehaviour(TorchDispatchMode):
    """Records the host syncs, device asserts and deterministic-mode
    refusals the dispatched operators would make on CUDA."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs: Counter = Counter()
        self.device_asserts = 0
        self.refused: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _sync_kind(func, args, kwargs)
        if kind is not None:
            self.syncs[kind] += 1
        if func.overloadpacket is aten._assert_async:
            self.device_asserts += 1
        refusal = _deterministic_refusal(func, args, kwargs)
        if refusal is not None:
            self.refused[refusal] += 1
        return func(*args, **kwargs)


@contextmanager
def _counting_host_reads(counts: Counter):
    names = ('tolist', 'numpy', 'cpu')
    originals = {name: getattr(torch.Tensor, name) for name in names}

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


def cuda_behaviour(fn: Callable[[], object]) -> CudaBehaviour:
    """Run ``fn()`` and return what it would do on CUDA (see the module
    docstring)."""
    mode = CudaBehaviour()
    with _counting_host_reads(mode.syncs), mode:
        fn()
    return mode


def count_host_syncs(fn: Callable[[], object]) -> Dict[str, int]:
    """``{kind: calls}`` of the host syncs ``fn()`` would make on CUDA."""
    return dict(cuda_behaviour(fn).syncs)


def sync_and_assert_counts(
        fn: Callable[[], object]) -> Tuple[Dict[str, int], int]:
    """``(host syncs by kind, device asserts)`` of ``fn()``."""
    mode = cuda_behaviour(fn)
    return dict(mode.syncs), mode.device_asserts
