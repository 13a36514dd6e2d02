"""The few collectives the losses need; no-ops in a single process.

This is the only module of the package that talks to ``torch.distributed``.
Every function here is a collective when a process group exists: all ranks
must call it in the same order with tensors of the same shape and dtype,
whatever their data (empty batches included), or the job hangs.
Without a process group (or with one rank) nothing is communicated.

Gradient convention of the "global" losses: every rank reports the same,
global loss value ``L = sum_r l_r``, and DDP divides the summed parameter
gradients by the world size W. Each loss therefore scales the gradient of
its own entries by W, so that the averaged gradient is exactly
``dL/dtheta``, with no collective in backward. This relies on every rank
back-propagating the same upstream gradient into the loss, which holds when
the loss is used the same way on all ranks (as mmdet's ``parse_losses``
does).
"""
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import Tensor

from .functional.torch_compat import device_scalar


def is_distributed() -> bool:
    """True when a process group with more than one rank exists."""
    return (torch_dist.is_available() and torch_dist.is_initialized()
            and torch_dist.get_world_size() > 1)


def world_size() -> int:
    """Number of ranks (1 without a process group)."""
    return torch_dist.get_world_size() if is_distributed() else 1


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum of ``tensor`` over ranks, as a new tensor without autograd.

    Meant for statistics (histogram counts, totals). Returns ``tensor``
    itself in a single process.
    """
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
    return out


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return torch_dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the one that writes
    plots and files."""
    return rank() == 0


def shared_random_seed() -> int:
    """A random seed drawn by rank 0 from numpy's global generator and
    broadcast (what ``mmengine.dist.sync_random_seed`` returns, so a run's
    data order is unchanged); the local draw in a single process."""
    seed = int(np.random.randint(2**31))
    if not is_distributed():
        return seed
    on_gpu = torch_dist.get_backend() == 'nccl'  # NCCL needs a CUDA tensor
    value = torch.tensor(
        seed,
        dtype=torch.int64,
        device=torch.device('cuda', torch.cuda.current_device())
        if on_gpu else 'cpu')
    torch_dist.broadcast(value, src=0)
    return int(value.item())


def all_reduce_min(tensor: Tensor) -> Tensor:
    """Minimum of ``tensor`` over ranks (a new tensor; no host sync);
    ``tensor`` itself in a single process."""
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    torch_dist.all_reduce(out, op=torch_dist.ReduceOp.MIN)
    return out


def all_reduce_max(tensor: Tensor) -> Tensor:
    """Maximum of ``tensor`` over ranks (a new tensor; no host sync);
    ``tensor`` itself in a single process. Exact at any world size (no
    rounding), unlike a mean: use it to compare values across ranks."""
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    torch_dist.all_reduce(out, op=torch_dist.ReduceOp.MAX)
    return out


def all_gather_rows(tensor: Tensor) -> Tensor:
    """``[W, *shape]``: every rank's ``tensor`` (same shape on all ranks)
    in rank order, without a host sync; ``tensor[None]`` in a single
    process."""
    if not is_distributed():
        return tensor[None]
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    torch_dist.all_gather(parts, tensor.detach().contiguous())
    return torch.stack(parts)


def all_gather_sized(tensor: Tensor, sizes: List[int]) -> Tensor:
    """Concatenation of 1-D tensors whose lengths ``sizes`` (one per rank,
    in rank order) every rank already knows (e.g. from
    :func:`all_gather_rows` of the counts): no host sync of its own.
    ``tensor`` in a single process."""
    if not is_distributed():
        return tensor
    longest = max(max(sizes), 1)  # gloo and NCCL dislike empty buffers
    padded = tensor.detach().new_zeros(longest)
    padded[:tensor.numel()] = tensor.detach().reshape(-1)
    parts = [torch.zeros_like(padded) for _ in range(world_size())]
    torch_dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


# -- the global-batch convention -------------------------------------------
# Every loss and head that promises exactness uses these, never its own
# variant: statistics are summed (``all_reduce_sum``), variable-size
# positives gathered (``all_gather_sized`` after ``all_gather_rows`` of
# their counts), sums become a global value whose gradient DDP's average
# turns back into the exact one
# (``global_value``), normalisers are global (``global_normaliser``) and
# every rank reports the global value (``global_report``).


def ddp_gradient_scale() -> int:
    """The factor W by which a rank scales the gradient of its own entries
    of a global loss (DDP divides the summed gradients by W)."""
    return world_size()


def global_value(local: Tensor) -> Tensor:
    """``sum_r local_r`` as the value on every rank; its gradient with
    respect to this rank's inputs is ``W * d local / d inputs``.

    One scalar all-reduce; ``local`` itself in a single process. With DDP
    averaging the gradients, the result equals the single-process gradient
    of the summed loss.
    """
    if not is_distributed():
        return local
    w = world_size()
    total = all_reduce_sum(local.detach())
    return local * w + (total - local.detach() * w)


Count = Union[int, float, Tensor]


def bounded_count(count: Count,
                  device: torch.device,
                  minimum: Optional[float] = None) -> Count:
    """``count`` itself, or ``max(count, minimum)`` as a float32 tensor on
    ``device`` when ``minimum`` is given (no collective)."""
    if minimum is None:
        return count
    return device_scalar(count, torch.float32, device).clamp(min=minimum)


def global_normaliser(
        local_count: Union[int, float, Tensor],
        device: torch.device,
        minimum: Optional[float] = None
) -> Tuple[Union[int, float, Tensor], int]:
    """``(max(N_global, minimum) / W, W)`` for a loss normalised by a count
    (mmdet's ``avg_factor``, e.g. the number of positives): a rank dividing
    its own sum by it returns ``W * local_sum / N_global``, whose gradient
    DDP averages into the exact one. The bound applies to the global count
    (as one process on the union would apply it), not to each rank's.
    ``(max(local_count, minimum), 1)`` in a single process (no collective).
    """
    if not is_distributed():
        return bounded_count(local_count, device, minimum), 1
    w = world_size()
    n = all_reduce_sum(
        device_scalar(local_count, torch.float64, device).reshape(1))
    if minimum is not None:
        n = n.clamp(min=minimum)
    return (n / w).float().squeeze(0), w


def global_report(values: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Every value replaced by its mean over ranks (the global loss under
    :func:`global_normaliser`), gradients unchanged: the logged loss is
    the same on every rank. One all-reduce for all values; ``values``
    itself in a single process."""
    if not is_distributed() or not values:
        return values
    keys = list(values)
    local = torch.stack([values[k].detach().float() for k in keys])
    mean = all_reduce_sum(local) / world_size()
    return {
        k: values[k] + (mean[i] - local[i]).to(values[k].dtype)
        for i, k in enumerate(keys)
    }
