"""The skeleton of a statistics hook: every ``interval`` training
iterations capture what the detector's losses see, measure a statistic
over every rank (collectives), log it on that iteration only, and plot the
series after training."""
import os.path as osp
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, Dict, List, Optional

import torch
from mmengine.hooks import Hook
from torch import Tensor, nn

from .. import dist
from ..checks import check_int, check_str
from .loss_inputs import (IterationScalars, detector_head, loss_call_args,
                          warn_if_not_logged)

Capture = Callable[[Tensor, Tensor, Optional[Tensor]], None]


class SampledStatsHook(Hook, metaclass=ABCMeta):
    """Base of :class:`GradientHistogramHook` and :class:`RankingStatsHook`.

    Subclasses implement :meth:`attach` (find the losses on the head,
    :meth:`capture` their inputs), :meth:`measure` (this iteration's
    scalars and record; every rank calls it, so it may use collectives)
    and :meth:`plot`; :meth:`reset` clears what was captured.

    Args:
        interval: Iterations between two measurements.
        head: Attribute of the detector holding the losses.
        out_file: PNG written in the work dir by rank 0 after training.
    """
    priority = 'NORMAL'  # before the LoggerHook reads the message hub

    def __init__(self, interval: int, head: str, out_file: str) -> None:
        check_int('interval', interval, 1)
        check_str('head', head)
        check_str('out_file', out_file)
        self.interval = interval
        self.head = head
        self.out_file = out_file
        self.history: List[dict] = []
        self._active = False
        self._handles: List[Any] = []
        self._device = torch.device('cpu')
        self._scalars = IterationScalars()

    # -- what subclasses provide -----------------------------------------
    @abstractmethod
    def attach(self, head: nn.Module) -> None:
        """Find the losses on ``head`` and capture their inputs."""

    def reset(self) -> None:
        """Forget what the previous iteration captured."""

    @abstractmethod
    def measure(self, runner) -> Dict[str, Any]:
        """``{'scalars': {name: float}, 'record': {...}}`` of the captured
        iteration (a collective on every rank)."""

    @abstractmethod
    def plot(self, path: str) -> None:
        """Draw :attr:`history` to ``path`` (rank 0, after training)."""

    def write_record(self, runner, record: dict) -> None:
        """Rank 0, after each measurement: extra outputs (none here)."""

    # -- shared --------------------------------------------------------
    def capture(self, loss: nn.Module, record: Capture) -> None:
        """On measured iterations, hand every call's ``(pred, target,
        weight)`` of ``loss`` to ``record`` before the loss runs."""

        def pre_hook(module, args, kwargs):
            if self._active:
                with torch.no_grad():
                    record(*loss_call_args(args, kwargs))
            return None

        self._handles.append(
            loss.register_forward_pre_hook(pre_hook, with_kwargs=True))

    def before_run(self, runner) -> None:
        name = type(self).__name__
        head = detector_head(runner.model, self.head, name)
        warn_if_not_logged(runner, self.interval, name)
        self._device = next(head.parameters()).device
        self.attach(head)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        self._scalars.withdraw(runner)
        self._active = self.every_n_train_iters(runner, self.interval)
        self.reset()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not self._active:
            return
        self._active = False
        measured = self.measure(runner)
        self.reset()
        self._scalars.publish(runner, measured['scalars'])
        record = dict(iter=runner.iter + 1, **measured['record'])
        self.history.append(record)
        if dist.is_main_process():
            self.write_record(runner, record)

    def after_run(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if dist.is_main_process() and self.history:
            path = osp.join(runner.work_dir, self.out_file)
            self.plot(path)
            runner.logger.info(f'{type(self).__name__}: {path}')
