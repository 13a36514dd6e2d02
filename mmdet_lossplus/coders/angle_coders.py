"""Single-mode angle encodings, the baselines of the multi-bin coder."""
import math

import torch
from torch import Tensor

from ..functional.multibin import check_targets, wrap_periodic
from ..registry import TASK_UTILS


def check_decode_input(pred: Tensor, channels: int) -> None:
    """``TypeError``/``ValueError`` unless ``pred`` is a floating ``[N,
    channels]`` tensor."""
    if not torch.is_tensor(pred) or not pred.is_floating_point():
        raise TypeError('pred must be a floating-point tensor, got '
                        f'{getattr(pred, "dtype", type(pred))}')
    if pred.dim() != 2 or pred.shape[1] != channels:
        raise ValueError(f'pred must have shape [N, {channels}], got '
                         f'{tuple(pred.shape)}')


def wrap_angle(angle: Tensor) -> Tensor:
    """Angles moved into ``[-pi, pi)``."""
    return wrap_periodic(angle, -math.pi, math.pi)


@TASK_UTILS.register_module()
class RawAngleCoder:
    """The angle itself (radians in ``[-pi, pi)``), 1 channel: what a
    plain L1/L2 regression of an angle sees. Decoding wraps the output."""

    channels = 1

    def encode(self, target: Tensor) -> Tensor:
        check_targets(target)
        return wrap_angle(target.float())[:, None]

    def decode(self, pred: Tensor) -> Tensor:
        check_decode_input(pred, self.channels)
        return wrap_angle(pred[:, 0].float())


@TASK_UTILS.register_module()
class SinCosAngleCoder:
    """``(sin, cos)`` of the angle, 2 channels: continuous across +-pi but
    single-mode (two opposite modes average to the zero vector).
    Decoding is ``atan2``."""

    channels = 2

    def encode(self, target: Tensor) -> Tensor:
        check_targets(target)
        target = target.float()
        return torch.stack([target.sin(), target.cos()], 1)

    def decode(self, pred: Tensor) -> Tensor:
        check_decode_input(pred, self.channels)
        pred = pred.float()
        return torch.atan2(pred[:, 0], pred[:, 1])
