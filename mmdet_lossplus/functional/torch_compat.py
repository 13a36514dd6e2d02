"""The few torch operations whose availability or behaviour depends on the
torch version or the device, behind one door each.

The supported range starts at torch 2.1 (mmcv 2.1.0's prebuilt CUDA wheels,
what mmdet 3.3 users run). Every function here gives the same result on
every supported version and device; which path runs is decided from the
device, the torch version and the deterministic-algorithms switch, never
from the data, and each path is tested on CPU by forcing it
(:data:`FORCE_PORTABLE`).
"""
import re
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

#: Take the portable path of every function here on every device (tests).
FORCE_PORTABLE = False


def torch_version(version: str = torch.__version__) -> Tuple[int, int]:
    """``(major, minor)`` of a torch version string such as
    ``'2.1.2+cu121'`` or ``'2.6.0a0+git1234'``."""
    match = re.match(r'(\d+)\.(\d+)', version)
    if match is None:
        raise ValueError(f'version: cannot read a torch version from '
                         f'{version!r}')
    return int(match.group(1)), int(match.group(2))


TORCH_VERSION = torch_version()


def accelerator_path(device: torch.device) -> bool:
    """Whether code on ``device`` takes the path that makes no host
    round-trip (every device but the CPU, where the data are on the host
    anyway; everywhere when :data:`FORCE_PORTABLE` is set)."""
    return FORCE_PORTABLE or torch.device(device).type != 'cpu'


def true_positions(mask: Tensor, count: int) -> Tensor:
    """``[count]`` int64 positions of the True entries of a 1-D bool
    ``mask``, ascending, when their number ``count`` is already known on
    the host: no host round-trip on any device.

    ``torch.nonzero_static`` on CPU (torch >= 2.1). Elsewhere it has no
    kernel before torch 2.6 on CUDA (and crashed on an empty CUDA input
    until 2025): there the ``k``-th True entry is where the running count
    of True entries first reaches ``k``, found by a binary search in that
    count (an integer cumulative sum: exact, deterministic, 4 bytes per
    entry while it lives).

    Args:
        mask: ``[M]`` bool.
        count: The number of True entries (the caller read it with its
            other counts); a wrong value gives wrong positions.
    """
    if not accelerator_path(mask.device):
        return torch.nonzero_static(mask, size=count)[:, 0]
    dtype = torch.int32 if mask.numel() < 2**31 else torch.int64
    running = torch.cumsum(mask, 0, dtype=dtype)
    wanted = torch.arange(1, count + 1, dtype=dtype, device=mask.device)
    return torch.searchsorted(running, wanted)


def bin_sums(index: Tensor,
             size: int,
             weights: Optional[Tensor] = None) -> Tensor:
    """``[size]`` counts (int64) of the entries of the 1-D ``index`` at
    each value in ``[0, size)``, or the sums of their ``weights`` (in the
    weights' dtype).

    ``torch.bincount`` on CPU. On other devices it reads the largest index
    back to the host to size its output (a round-trip) and, with weights,
    raises under deterministic algorithms on CUDA; adding into fixed
    slots with ``index_add_`` does neither (deterministic there).
    """
    if not accelerator_path(index.device):
        out = torch.bincount(index, weights=weights, minlength=size)
        # bincount of an empty input is int64 whatever the weights
        return out if weights is None else out.to(weights.dtype)
    if weights is None:
        weights = torch.ones((), dtype=torch.int64,
                             device=index.device).expand(index.numel())
    out = torch.zeros(size, dtype=weights.dtype, device=index.device)
    return out.index_add_(0, index, weights)


def device_scalar(value: Union[Tensor, float, int], dtype: torch.dtype,
                  device: Union[str, torch.device]) -> Tensor:
    """A 0-dim (or, for a tensor, same-shape) tensor of ``value`` on
    ``device``: a Python number is filled in on the device
    (``torch.full``), never copied from pageable host memory as
    ``torch.tensor`` / ``new_tensor`` / ``as_tensor`` would (a host sync
    on CUDA)."""
    if torch.is_tensor(value):
        return value.to(device=device, dtype=dtype)
    return torch.full((), value, dtype=dtype, device=device)


def _cumsum_raises_when_deterministic(x: Tensor) -> bool:
    # CUDA's float cumsum had no deterministic kernel before torch 2.6
    # (pytorch PR 136224): under use_deterministic_algorithms it raises
    return x.is_floating_point() and (
        FORCE_PORTABLE or x.device.type == 'cuda' and TORCH_VERSION < (2, 6)
        and torch.are_deterministic_algorithms_enabled())


def cumsum0(x: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """``torch.cumsum(x, 0)`` that runs wherever ``torch.cumsum`` would
    raise under deterministic algorithms (float on CUDA, torch < 2.6).

    There a Hillis-Steele scan replaces it: ``ceil(log2 n)`` elementwise
    additions of shifted copies, deterministic by construction, the same
    sums up to rounding (the additions are grouped differently; float64
    inputs keep the difference at the last bits). ``out``: written and
    returned when given.
    """
    if not _cumsum_raises_when_deterministic(x):
        return torch.cumsum(x, 0, out=out)
    acc, step, n = x.clone(), 1, x.shape[0]
    while step < n:
        acc = torch.cat([acc[:step], acc[step:] + acc[:-step]])
        step *= 2
    return acc if out is None else out.copy_(acc)


def has_finite_extremes(x: Tensor) -> Tensor:
    """0-dim bool: every entry of the non-empty ``x`` is finite, from its
    minimum and maximum (NaN and infinities reach them) without a bool
    copy of ``x``.

    ``torch.aminmax`` (one pass) where it has a kernel; CPU half precision
    has none before torch 2.2, there ``amin`` and ``amax`` run separately.
    """
    if x.device.type == 'cpu' and TORCH_VERSION < (2, 2) and \
            x.dtype in (torch.float16, torch.bfloat16) or FORCE_PORTABLE:
        ends = torch.stack([x.amin(), x.amax()])
    else:
        ends = torch.stack(torch.aminmax(x))
    return torch.isfinite(ends).all()
