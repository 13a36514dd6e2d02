"""Reusable buffers for the large per-call temporaries of a loss.

On CPU a fresh multi-megabyte tensor per call costs as much as the
arithmetic (docs/design.md, "What we learnt"). A loss that owns a
:class:`ScratchBuffers` writes its temporaries (``out=`` and in-place ops)
into buffers that survive between calls instead. CUDA's caching allocator
already reuses freed blocks, and holding them here would only keep memory
from other layers, so reuse is enabled on CPU only.

Rules for callers: a scratch tensor is only valid until the next call that
asks for the same name, so nothing returned to the user or saved for
backward may be a scratch tensor.
"""
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import Tensor

from .torch_compat import accelerator_path


class ScratchBuffers:
    """Named flat buffers, grown on demand, viewed to the shape asked for.

    Args:
        enabled: None (default) reuses buffers for CPU tensors only; True or
            False forces it for every device.
    """

    def __init__(self, enabled: Optional[bool] = None) -> None:
        self.enabled = enabled
        self._buffers: Dict[str, Tensor] = {}

    def get(self, name: str, shape: Sequence[int], dtype: torch.dtype,
            device: torch.device) -> Tensor:
        """An uninitialised contiguous tensor of ``shape``.

        A fresh tensor when reuse is off for ``device``; otherwise a view of
        the buffer ``name``, reallocated only when it is too small or of
        another dtype/device.
        """
        if not self.reuses(device):
            return torch.empty(shape, dtype=dtype, device=device)
        numel = 1
        for size in shape:
            numel *= int(size)
        device = torch.device(device)
        buf = self._buffers.get(name)
        if (buf is None or buf.numel() < numel or buf.dtype != dtype
                or buf.device != device):
            buf = torch.empty(numel, dtype=dtype, device=device)
            self._buffers[name] = buf
        return buf[:numel].view(shape)

    def reuses(self, device: Union[str, torch.device]) -> bool:
        """Whether :meth:`get` returns held buffers for ``device`` (else
        fresh tensors, which a caller may hand on)."""
        if self.enabled is not None:
            return self.enabled
        return not accelerator_path(torch.device(device))

    def clear(self) -> None:
        """Release every buffer."""
        self._buffers.clear()

    def nbytes(self) -> int:
        """Bytes currently held."""
        return sum(b.numel() * b.element_size()
                   for b in self._buffers.values())

    # Copies of a model (deepcopy, pickling for spawn) start empty: the
    # buffers are a cache, not state.
    def __deepcopy__(self, memo: Dict[int, Any]) -> 'ScratchBuffers':
        return ScratchBuffers(self.enabled)

    def __getstate__(self) -> Dict[str, Any]:
        return {'enabled': self.enabled, '_buffers': {}}


def scratch_tensor(scratch: Optional[ScratchBuffers], name: str,
                   shape: Sequence[int], dtype: torch.dtype,
                   device: torch.device) -> Tensor:
    """``scratch.get(...)``, or a fresh ``torch.empty`` without scratch."""
    if scratch is None:
        return torch.empty(shape, dtype=dtype, device=device)
    return scratch.get(name, shape, dtype, device)
