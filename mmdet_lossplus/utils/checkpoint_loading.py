"""Safe checkpoint loading for mmengine 0.10.7 on every supported torch.

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

torch < 2.5 has no ``safe_globals`` to extend its ``weights_only``
unpickler with. There local files are read by torch's loader with an
unpickler of ours (:class:`AllowListUnpickler`, given to ``torch.load`` as
its pickle module) that resolves only torch's own tensor-rebuilding globals
and the same allow-list, and refuses anything else the same way; URLs
(whose loader takes no pickle module) load with torch's own
``weights_only=True``. Nothing ever falls back to full unpickling without
the opt-in.

Importing :mod:`mmdet_lossplus` changes nothing: outside the context
mmengine uses torch's own default.
"""
import collections
import contextlib
import os
import pickle
import re
import types
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import _compat_pickle
import torch

TRUST_ENV = 'MMDET_LOSSPLUS_TRUST_CHECKPOINTS'
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('', '0', 'false', 'no', 'off')
OPT_IN = (f'--trust-checkpoint (tools/train.py, tools/test.py) or the '
          f'environment variable {TRUST_ENV}=1')

Allowed = Union[Callable, Tuple[Callable, str]]

#: Use :class:`AllowListUnpickler` even where torch has ``safe_globals``
#: (tests of the path that torch < 2.5 takes).
FORCE_OWN_UNPICKLER = False


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

    # by numpy's version, not hasattr(np, '_core'): opencv 4.10 adds a
    # stub np._core without multiarray to numpy 1
    numpy_2 = int(np.__version__.split('.')[0]) >= 2
    # (the type checker knows one numpy: one of the two names is unknown)
    core = np._core if numpy_2 else np.core  # type: ignore[attr-defined]
    multiarray = core.multiarray
    allowed: List[Allowed] = [
        HistoryBuffer, (_history_buffer_method, 'builtins.getattr'),
        np.ndarray, np.dtype
    ]
    for name in ('_reconstruct', 'scalar'):  # both spellings, any numpy
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            allowed.append((getattr(multiarray, name), f'{module}.{name}'))
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
    match = re.search(r'getattr\(.*?\) is not allowed', message)
    if match:
        return match.group(0)
    match = re.search(r'Unsupported operand \d+|Unsupported class [\w.]+',
                      message)
    return match.group(0) if match else 'an object outside the allow-list'


def _global_name(entry: Allowed) -> Tuple[str, Callable]:
    if isinstance(entry, tuple):
        return entry[1], entry[0]
    return f'{entry.__module__}.{entry.__qualname__}', entry


def _torch_globals() -> Dict[str, Any]:
    """What torch's own pickles of tensors and state dicts name (storages
    are resolved by torch's loader before the unpickler is asked)."""
    found: Dict[str, Any] = {
        'collections.OrderedDict': collections.OrderedDict,
        'torch.Size': torch.Size,
        'torch.device': torch.device,
        'torch.nn.parameter.Parameter': torch.nn.Parameter,
        'torch._tensor._rebuild_from_type_v2':
        torch._tensor._rebuild_from_type_v2,
        '_codecs.encode': __import__('_codecs').encode,  # bytes
        'builtins.set': set,
        'builtins.bytearray': bytearray,
        'builtins.complex': complex,
    }
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3',
                 '_rebuild_parameter', '_rebuild_parameter_with_state'):
        if hasattr(torch._utils, name):
            found[f'torch._utils.{name}'] = getattr(torch._utils, name)
    if hasattr(torch.serialization, '_get_layout'):
        found['torch.serialization._get_layout'] = \
            torch.serialization._get_layout
    for value in vars(torch).values():
        if isinstance(value, torch.dtype):
            found[str(value)] = value
    return found


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only torch's tensor-rebuilding globals
    and :func:`checkpoint_allowlist`; any other global is an
    ``UnpicklingError`` naming it (``GLOBAL module.name``). For torch
    without ``safe_globals`` (< 2.5), given to ``torch.load`` through
    :func:`allowlist_pickle_module`."""

    _allowed: Optional[Dict[str, Any]] = None

    def find_class(self, module: str, name: str) -> Any:
        if AllowListUnpickler._allowed is None:
            allowed = _torch_globals()
            allowed.update(_global_name(e) for e in checkpoint_allowlist())
            AllowListUnpickler._allowed = allowed
        # protocol-2 pickles (torch.save's) spell Python 2 names
        # (__builtin__.getattr): map them as pickle's own find_class does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = f'{module}.{name}'
        if key not in AllowListUnpickler._allowed:
            raise pickle.UnpicklingError(
                f'Unsupported global: GLOBAL {key} is not allowed')
        return AllowListUnpickler._allowed[key]


def allowlist_pickle_module() -> types.ModuleType:
    """A pickle module for ``torch.load(..., pickle_module=...)`` whose
    ``Unpickler`` is :class:`AllowListUnpickler`."""
    module = types.ModuleType('mmdet_lossplus_allowlist_pickle')

    def load(file: Any, **kwargs: Any) -> Any:
        return AllowListUnpickler(file, **kwargs).load()

    module.Unpickler = AllowListUnpickler  # type: ignore[attr-defined]
    module.load = load  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore
    return module


def torch_has_safe_globals() -> bool:
    """Whether torch can extend its ``weights_only`` unpickler for the
    duration of a load (torch >= 2.5), unless :data:`FORCE_OWN_UNPICKLER`."""
    serialization = torch.serialization
    return not FORCE_OWN_UNPICKLER and hasattr(
        serialization, 'safe_globals') and hasattr(serialization,
                                                   'get_safe_globals')


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
    if torch_has_safe_globals():
        context: Any = _allowlisted()
        kwargs['weights_only'] = True
    elif load is torch.load:
        context = contextlib.nullcontext()
        kwargs.update(
            weights_only=False, pickle_module=allowlist_pickle_module())
    else:  # a URL loader on old torch: torch's own allow-list only
        context = contextlib.nullcontext()
        kwargs['weights_only'] = True
    with context:
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
    fully) while the context is open; a checkpoint that does not match the
    model exactly (``load_from`` a checkpoint of another head, say) is
    reported in the run's log file, not only printed to the console.

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
    saved_load_state_dict = ckpt_module.load_state_dict

    def load_url(url: str, *args: Any, **kwargs: Any) -> Any:
        return load_checkpoint_file(
            saved_load_url, url, *args, trust=trust, **kwargs)

    def load_state_dict(module: Any,
                        state_dict: Any,
                        strict: bool = False,
                        logger: Any = None) -> Any:
        # the Runner passes no logger: the key mismatch went to stdout only
        return saved_load_state_dict(module, state_dict, strict,
                                     'current' if logger is None else logger)

    ckpt_module.torch = _PolicyTorch(trust)
    ckpt_module.load_url = load_url
    ckpt_module.load_state_dict = load_state_dict
    try:
        yield
    finally:
        ckpt_module.torch = saved_torch
        ckpt_module.load_url = saved_load_url
        ckpt_module.load_state_dict = saved_load_state_dict
