"""The one autograd Function of the ranking losses.

A ranking loss (AP-loss, Chen et al., CVPR 2019; Rank & Sort, Oksuz et
al., ICCV 2021; aLRP, Oksuz et al., NeurIPS 2020) has no useful gradient:
its value is a step function of the scores. Each paper instead gives an
error-driven update per score, which is used as the gradient. The losses
here are computed without autograd (:mod:`~mmdet_lossplus.core.global_ranking`)
and :func:`with_ranking_updates` attaches their updates to the scores.
"""
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .. import dist


class UpdatePart(NamedTuple):
    """One output of a ranking loss and the update that is its gradient.

    Attributes:
        loss: 0-dim value of the output.
        update: ``[M]`` update of every flat score, or ``[P]`` updates of
            the scores at ``positions``.
        positions: None, or ``[P]`` int64 positions of ``update`` among the
            flat scores.
    """
    loss: Tensor
    update: Tensor
    positions: Optional[Tensor] = None


class _RankingUpdates(torch.autograd.Function):
    """Forward: the parts' losses (float32). Backward: the sum over parts
    of ``update * upstream gradient * scale``."""

    @staticmethod
    def forward(ctx: Any, scores: Tensor, scale: int, *flat:
                Tensor) -> Tuple[Tensor, ...]:
        parts = [UpdatePart(*flat[k:k + 3]) for k in range(0, len(flat), 3)]
        ctx.scale, ctx.shape, ctx.dtype = scale, scores.shape, scores.dtype
        ctx.indexed = [p.positions is not None for p in parts]
        ctx.save_for_backward(
            *[p.update for p in parts],
            *[p.positions for p in parts if p.positions is not None])
        return tuple(p.loss.detach().to(torch.float32, copy=True)
                     for p in parts)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> Tuple[Optional[Tensor], ...]:
        saved = ctx.saved_tensors
        updates, indices = saved[:len(grads)], iter(saved[len(grads):])
        total: Optional[Tensor] = None
        for update, grad, indexed in zip(updates, grads, ctx.indexed):
            step = update * (grad.to(update.dtype) * ctx.scale)
            if indexed:
                if total is None:
                    total = update.new_zeros(ctx.shape.numel())
                total.index_add_(0, next(indices), step)
            elif total is None:
                total = step
            else:
                total += step
        assert total is not None
        nones = (None, ) * (1 + 3 * len(grads))
        return (total.reshape(ctx.shape).to(ctx.dtype), ) + nones


def with_ranking_updates(scores: Tensor, parts: Sequence[UpdatePart],
                         global_scope: bool) -> Tuple[Tensor, ...]:
    """The parts' losses as float32 scalars whose gradient with respect to
    ``scores`` is the sum of the parts' updates.

    In global scope under DDP each update is multiplied by the world size,
    so that DDP's gradient averaging gives exactly the single-process
    update on the union (the convention of :mod:`mmdet_lossplus.dist`).

    Args:
        scores: ``[...]`` the logits the losses were computed from (any
            shape; the updates index them flat).
        parts: The outputs; the first one without ``positions`` is cheapest
            (its update becomes the gradient buffer).
        global_scope: The losses cover every rank's entries.

    Returns:
        One float32 0-dim tensor per part.
    """
    if not parts:
        raise ValueError('parts: at least one (loss, update) part expected')
    scale = dist.ddp_gradient_scale() if global_scope and \
        dist.is_distributed() else 1
    flat = [x for part in parts for x in part]
    apply: Callable[..., Tuple[Tensor, ...]] = _RankingUpdates.apply
    return apply(scores, scale, *flat)
