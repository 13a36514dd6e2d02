"""What every head needs to give its losses the global mini-batch.

mmdet's dense heads call each loss once per FPN level (a ranking or a
histogram then sees a fifth of the batch) and normalise by the positives
of their own GPU. A head that mixes in :class:`GlobalBatchHeadMixin`
flattens every level of every image into one call per loss and normalises
through :mod:`~mmdet_lossplus.dist`'s global-batch convention; a loss that
declares it reduces globally itself (see
:func:`~mmdet_lossplus.losses.contract.loss_traits`) gets the local
normaliser and keeps its own value.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .. import dist
from ..checks import check_choice
from ..losses.contract import SCOPES, loss_traits, resolve_scope


def flatten_levels(per_level: List[Tensor], channels: int) -> Tensor:
    """``[N, A*K, H, W]`` per level -> ``[N * sum(H*W*A), K]``.

    Rows are ordered image-major, then level, then location and anchor,
    the order of ``images_to_levels`` inverted (matching the targets).
    """
    n = per_level[0].shape[0]
    flat = [x.permute(0, 2, 3, 1).reshape(n, -1, channels) for x in per_level]
    return torch.cat(flat, dim=1).reshape(-1, channels)


class GlobalBatchHeadMixin:
    """Global normaliser, loss calls and reported values for a dense head.

    ``scope='global'`` (default): losses normalised by a count are divided
    by the global count over ``W`` (:func:`~mmdet_lossplus.dist.
    global_normaliser`) and every rank reports the global value
    (:func:`~mmdet_lossplus.dist.global_report`): W processes with b images
    each train exactly as one with W*b. ``scope='local'``: mmdet's
    per-process normaliser. One process issues no collective either way.

    Args:
        scope: ``'global'`` (default) or ``'local'``.
        global_avg_factor: Deprecated spelling of ``scope``.
        *args, **kwargs: The head's own arguments (mmdet's).
    """

    def __init__(self,
                 *args,
                 scope: Optional[str] = None,
                 global_avg_factor: Optional[bool] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scope = resolve_scope(
            scope, type(self).__name__, global_avg_factor=global_avg_factor)
        check_choice('scope', self.scope, SCOPES)

    def normaliser(
        self,
        count,
        device,
        minimum: Optional[float] = None
    ) -> Tuple[Union[int, float, Tensor], int]:
        """``(normaliser for the losses, world size W)``: the global count
        over W in global scope, else the local count and 1; ``minimum``
        bounds the (global) count from below first."""
        if self.scope != 'global':
            return dist.bounded_count(count, device, minimum), 1
        return dist.global_normaliser(count, device, minimum=minimum)

    @staticmethod
    def call_loss(loss_module: nn.Module, pred: Tensor, target: Tensor,
                  weight: Optional[Tensor], avg_factor,
                  local_avg_factor) -> Tensor:
        """A loss called with the global normaliser unless it declares
        that it reduces globally itself."""
        if loss_traits(loss_module).reduces_globally:
            return loss_module(
                pred, target, weight, avg_factor=local_avg_factor)
        return loss_module(pred, target, weight, avg_factor=avg_factor)

    def report_global(self, losses: Dict[str, Tensor],
                      world: int) -> Dict[str, Tensor]:
        """Every rank reports the global value of the losses the head
        normalised; gradients unchanged. Each key names the head's loss
        module that computed it (``loss_cls`` is ``self.loss_cls``, as in
        mmdet's heads)."""
        if world == 1:
            return losses
        keys = [
            k for k in losses
            if not loss_traits(getattr(self, k)).reduces_globally
        ]
        reported = dist.global_report({k: losses[k] for k in keys})
        return {**losses, **reported}


def join_levels(per_level: List[Tensor]) -> Tensor:
    """``[N, A_l, ...]`` per level (``images_to_levels``) -> ``[N *
    sum(A_l), ...]``, rows in :func:`flatten_levels`'s order."""
    joined = torch.cat(per_level, dim=1)
    return joined.reshape(-1, *joined.shape[2:])


def require_ranking_loss(head: nn.Module, loss_type: type) -> None:
    """``TypeError`` unless ``head.loss_cls`` is a ``loss_type``;
    ``ValueError`` unless the head was built with ``use_sigmoid=True``
    (mmdet sizes the classifier from the config's value, not the loss's)."""
    owner = type(head).__name__
    if not isinstance(head.loss_cls, loss_type):
        raise TypeError(f'{owner} needs loss_cls to be mmdet_lossplus.'
                        f'{loss_type.__name__}, got '
                        f'{type(head.loss_cls).__name__}')
    if not head.use_sigmoid_cls:
        raise ValueError(f'{owner}: loss_cls needs use_sigmoid=True in its '
                         'config (one logit per class, no background '
                         'column)')
