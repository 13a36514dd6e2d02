"""What the statistics hooks share: finding the detector's head and reading
the arguments of an mmdet loss call."""
from typing import Optional, Tuple

from mmengine.model import is_model_wrapper
from torch import Tensor, nn


def bare_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP (or other mmengine) wrapper."""
    return model.module if is_model_wrapper(model) else model


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
    positionally or as ``weight``/``label_weight``."""
    weight = args[2] if len(args) > 2 else kwargs.get(
        'weight', kwargs.get('label_weight'))
    return args[0], args[1], weight
