"""What the statistics hooks share: finding the detector's head, reading
the arguments of an mmdet loss call, logging a statistic only on the
iteration that measured it."""
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.hooks import LoggerHook
from mmengine.model import is_model_wrapper
from torch import Tensor, nn


def bare_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP (or other mmengine) wrapper."""
    inner = model.module if is_model_wrapper(model) else model
    assert isinstance(inner, nn.Module)
    return inner


def detector_head(model: nn.Module, name: str, owner: str) -> nn.Module:
    """``model.<name>`` (wrappers removed); ``ValueError`` naming ``owner``
    when the detector has no such head."""
    head = getattr(bare_model(model), name, None)
    if head is None:
        raise ValueError(f'{owner}: the model has no {name!r} (set '
                         'head=...)')
    return head


def loss_call_args(args: tuple,
                   kwargs: dict) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(pred, target, weight)`` of an mmdet loss call, the weight given
    positionally or as ``weight``/``label_weight``. A quality target
    ``(labels, scores)`` (mmdet's QFL, our Rank & Sort loss) gives its class
    labels."""
    weight = args[2] if len(args) > 2 else kwargs.get(
        'weight', kwargs.get('label_weight'))
    target = args[1]
    if isinstance(target, (tuple, list)):
        target = target[0]
    return args[0], target, weight


@contextmanager
def recording_loss_inputs(loss: nn.Module,
                          record: Callable[..., None],
                          raw: bool = False) -> Iterator[None]:
    """Within the block, every call of ``loss`` first hands its
    ``(pred, target, weight)`` (:func:`loss_call_args`) to ``record``, or
    with ``raw`` its ``(args, kwargs)`` unparsed; the loss itself runs
    unchanged."""

    def hook(module, args, kwargs):
        if raw:
            record(args, kwargs)
        else:
            record(*loss_call_args(args, kwargs))

    handle = loss.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


class IterationScalars:
    """Scalars a hook measured on one iteration, logged on that iteration
    only.

    mmengine's message hub keeps a scalar's last value, and the logger
    prints every key it holds on every logged line: a statistic measured
    every 50 iterations would reappear, stale, at iteration 75. Publishing
    through this class withdraws the keys again before the next iteration.
    """

    def __init__(self) -> None:
        self._keys: List[str] = []

    def publish(self, runner, values: Dict[str, float]) -> None:
        """``update_scalar`` every ``values`` item (keys prefixed
        ``train/``)."""
        for key, value in values.items():
            runner.message_hub.update_scalar(f'train/{key}', value)
            self._keys.append(f'train/{key}')

    def withdraw(self, runner) -> None:
        """Remove what was published (call before the next iteration)."""
        scalars = runner.message_hub.log_scalars
        for key in self._keys:
            scalars.pop(key, None)
        self._keys = []


def warn_if_not_logged(runner, interval: int, owner: str) -> None:
    """Warn when the logger's interval does not divide ``interval``: the
    hook's statistics then reach the plots but not every log line."""
    for hook in getattr(runner, 'hooks', []):
        if isinstance(hook, LoggerHook):
            every = getattr(hook, 'interval', 1)
            if interval % every:
                runner.logger.warning(
                    f'{owner}: interval={interval} is not a multiple of the '
                    f'LoggerHook interval {every}; statistics measured '
                    'between logged iterations appear only in the plot')
