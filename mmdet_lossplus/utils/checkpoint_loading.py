"""Safe checkpoint loading for mmengine 0.10.7 under torch >= 2.6.

torch 2.6 made ``torch.load`` default to ``weights_only=True``; mmengine
0.10.7 calls it without the argument, so its own checkpoints (which pickle a
``HistoryBuffer``, numpy arrays and scalars) fail to load. Turning
``weights_only`` off would let a crafted ``.pth`` run code. Instead, inside
:func:`checkpoint_loading` (our ``tools/`` enter it around the Runner):

* every load of mmengine's checkpoint module (``load_from``, ``resume``,
  ``init_cfg=Pretrained``, local files, URLs, ceph/pavi buffers) runs with
  ``weights_only=True`` plus :func:`checkpoint_allowlist`, the few classes
  mmengine and mmdet checkpoints legitimately contain;
* anything else is refused with :class:`UntrustedCheckpointError`, naming
  the file, the refused global and the opt-in;
* full unpickling is the user's explicit opt-in (``trust=True``: the tools'
  ``--trust-checkpoint`` flag or ``MMDET_LOSSPLUS_TRUST_CHECKPOINTS=1``).

Importing :mod:`mmdet_lossplus` changes nothing: outside the context
mmengine uses torch's own default.
"""
import contextlib
import os
import pickle
import re
import warnings
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import torch

TRUST_ENV = 'MMDET_LOSSPLUS_TRUST_CHECKPOINTS'
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('', '0', 'false', 'no', 'off')
OPT_IN = (f'--trust-checkpoint (tools/train.py, tools/test.py) or the '
          f'environment variable {TRUST_ENV}=1')

Allowed = Union[Callable, Tuple[Callable, str]]


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a global outside the allow-list."""


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """Stands for ``getattr`` in checkpoints, restricted to what mmengine's
    ``HistoryBuffer`` pickles: its statistics methods (``min``, ``max``,
    ``current``, ``mean`` and registered ones), looked up on the class.
    A general ``getattr`` would let a crafted file reach any attribute of
    any allowed object (``ndarray.tofile`` writes files)."""
    from mmengine.logging import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if owner is not HistoryBuffer or not isinstance(name, str) or \
            name.startswith('_') or name not in allowed:
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}) is not allowed: only '
            'HistoryBuffer statistics methods are')
    return getattr(HistoryBuffer, name)


def checkpoint_allowlist() -> List[Allowed]:
    """What mmengine/mmdet checkpoints contain besides tensors and
    containers of Python literals.

    Found by ``torch.serialization.get_unsafe_globals_in_checkpoint`` on a
    full training checkpoint of ours (optimizer, param schedulers, message
    hub) and on mmdet zoo-style files: mmengine's ``HistoryBuffer`` (the
    message hub's scalars) with a ``getattr`` restricted to its statistics
    methods (it pickles them by name), numpy arrays (its storage), numpy
    scalars and their dtypes (seeds, metrics). Files written under numpy 1
    spell the numpy functions ``numpy.core.*``; the tuples accept that
    spelling. Object arrays are not allowed.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    allowed: List[Allowed] = [
        HistoryBuffer, (_history_buffer_method, 'builtins.getattr'),
        np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar')
    ]
    # numeric and bool dtypes, under both module spellings of numpy 2
    for char in '?bBhHiIlLqQefdgFDG':
        dtype_class = type(np.dtype(char))
        if dtype_class is not np.dtype and dtype_class not in allowed:
            allowed.append(dtype_class)
    return allowed


def trust_from_env(environ: Optional[dict] = None) -> bool:
    """The opt-in set by ``MMDET_LOSSPLUS_TRUST_CHECKPOINTS``.

    Raises:
        ValueError: for a value other than 1/true/yes/on or
            0/false/no/off/empty (any case).
    """
    value = (environ if environ is not None else os.environ).get(
        TRUST_ENV, '').strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'{TRUST_ENV} must be one of {_TRUE + _FALSE[1:]} '
                     f'(or unset), got {value!r}')


def add_trust_checkpoint_argument(parser: Any) -> None:
    """``--trust-checkpoint`` for a tool's ``argparse`` parser: the parsed
    value is True when given, else None (then :func:`checkpoint_loading`
    reads :data:`TRUST_ENV`), ready to pass as ``trust``."""
    parser.add_argument(
        '--trust-checkpoint',
        action='store_const',
        const=True,
        default=None,
        help='unpickle checkpoints fully (load_from, resume, init_cfg). '
        'Only for files you trust: a crafted checkpoint runs arbitrary '
        "code. Without it, checkpoints load with torch's weights_only=True "
        'and an allow-list of what mmengine/mmdet checkpoints contain. '
        f'Same as {TRUST_ENV}=1')


def _describe(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return getattr(f, 'name', None) or f'<{type(f).__name__}>'


def _refused_global(message: str) -> str:
    match = re.search(r'GLOBAL ([\w.]+)', message)
    if match:
        return match.group(1)
    match = re.search(r'Unsupported operand \d+|Unsupported class [\w.]+',
                      message)
    return match.group(0) if match else 'an object outside the allow-list'


@contextlib.contextmanager
def _allowlisted() -> Iterator[None]:
    # Only what is not allowed already: torch's context removes on exit
    # what it added, and must not drop the user's own safe globals.
    present = set(torch.serialization.get_safe_globals())
    extra = [g for g in checkpoint_allowlist() if g not in present]
    with torch.serialization.safe_globals(extra):
        yield


def load_checkpoint_file(load: Callable, f: Any, *args: Any, trust: bool,
                         **kwargs: Any) -> Any:
    """``load(f, *args, **kwargs)`` under the loading policy.

    Args:
        load: ``torch.load`` or ``torch.hub.load_state_dict_from_url``.
        f: What is loaded (path, URL or file-like), named in errors.
        trust: Full unpickling (the user's opt-in).

    Raises:
        UntrustedCheckpointError: without ``trust``, for a file holding
            anything outside :func:`checkpoint_allowlist`.
    """
    if trust:
        kwargs['weights_only'] = False
        return load(f, *args, **kwargs)
    kwargs['weights_only'] = True
    with _allowlisted():
        try:
            return load(f, *args, **kwargs)
        except pickle.UnpicklingError as err:
            raise UntrustedCheckpointError(
                f'refused to load checkpoint {_describe(f)}: it contains '
                f'{_refused_global(str(err))}, which is not among the '
                'types mmengine/mmdet checkpoints hold (loading it could '
                'run arbitrary code). If you trust this file, opt in to '
                f'full unpickling with {OPT_IN}.') from err


class _PolicyTorch:
    """Stands for ``torch`` in mmengine's checkpoint module: ``load``
    follows the policy, every other attribute is torch's."""

    def __init__(self, trust: bool) -> None:
        self._trust = trust

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    def load(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        return load_checkpoint_file(
            torch.load, f, *args, trust=self._trust, **kwargs)


@contextlib.contextmanager
def checkpoint_loading(trust: Optional[bool] = None) -> Iterator[None]:
    """Load mmengine checkpoints with the allow-list (or, with ``trust``,
    fully) while the context is open.

    Args:
        trust: Full unpickling of every checkpoint loaded in the context;
            None reads :data:`TRUST_ENV`. Only for files you trust: a
            crafted checkpoint runs arbitrary code when unpickled.

    Not re-entrant across threads; nested contexts restore in order.
    """
    import mmengine.runner.checkpoint as ckpt_module
    if trust is None:
        trust = trust_from_env()
    if not isinstance(trust, bool):
        raise TypeError(f'trust must be a bool or None, got {trust!r}')
    if trust:
        warnings.warn(
            'mmdet_lossplus: full unpickling of checkpoints is on (opt-in); '
            'a crafted checkpoint can run arbitrary code. Use it only for '
            'files you trust.',
            stacklevel=3)
    saved_torch = ckpt_module.torch
    saved_load_url = ckpt_module.load_url

    def load_url(url: str, *args: Any, **kwargs: Any) -> Any:
        return load_checkpoint_file(
            saved_load_url, url, *args, trust=trust, **kwargs)

    ckpt_module.torch = _PolicyTorch(trust)
    ckpt_module.load_url = load_url
    try:
        yield
    finally:
        ckpt_module.torch = saved_torch
        ckpt_module.load_url = saved_load_url
