"""Gradient Harmonizing Mechanism (GHM): gradient norms, histograms, weights.

Li, Liu and Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019,
https://arxiv.org/abs/1811.05181.

Every sample (a logit for GHM-C, a regression coordinate for GHM-R) has a
gradient norm ``g`` in ``[0, 1]``. The range is cut into ``M`` bins; the
density of a sample is the count of its bin (or an EMA of it) times the
number ``n`` of non-empty bins, and its weight is ``tot / density`` where
``tot`` is the number (GHM-C) or total weight (GHM-R) of valid samples. The
loss is ``sum(weight * per-sample loss) / tot``.

All functions are vectorised (``bucketize`` + ``bincount``), need no host
synchronisation and work in float32 whatever the input precision. They are
split so that the counts can be summed over distributed ranks between
:func:`ghm_bin_counts` and :func:`ghm_weights`; this module itself never
communicates.
"""
from typing import Tuple

import torch
from torch import Tensor


def ghm_edges(bins: int, last_edge: float, device=None) -> Tensor:
    """Bin edges ``i / bins`` (float32), the last one replaced.

    Args:
        bins: Number of bins ``M >= 1``.
        last_edge: Upper edge of the last bin. mmdet uses ``1 + 1e-6`` for
            GHM-C (so that ``g = 1`` falls inside) and ``1e3`` for GHM-R.

    Returns:
        ``[M + 1]`` float32 edges.
    """
    edges = torch.arange(bins + 1, dtype=torch.float32, device=device) / bins
    edges[-1] = last_edge
    return edges


def ghmc_gradient_norm(pred: Tensor, target: Tensor) -> Tensor:
    """``g = |sigmoid(x) - y|`` of sigmoid cross-entropy, float32, detached.

    Args:
        pred: Logits of any shape.
        target: Binary targets, same shape.
    """
    return (pred.detach().float().sigmoid() - target.float()).abs()


def asl1_loss(diff: Tensor, mu: float = 0.02) -> Tensor:
    """Authentic smooth L1: ``sqrt(d^2 + mu^2) - mu`` (float32 for halves).

    Smooth everywhere (unlike smooth L1), ~``d^2 / (2 mu)`` near 0 and
    ~``|d|`` far from it (GHM paper, eq. 11).

    Args:
        diff: Regression residual ``pred - target`` of any shape.
        mu: Transition scale ``> 0``.
    """
    d = diff.float() if diff.dtype in (torch.float16, torch.bfloat16) \
        else diff
    return torch.sqrt(d * d + mu * mu) - mu


def asl1_gradient_norm(diff: Tensor, mu: float = 0.02) -> Tensor:
    """``g = |d| / sqrt(d^2 + mu^2)`` in ``[0, 1)``, float32, detached."""
    d = diff.detach().float()
    return d.abs() / torch.sqrt(d * d + mu * mu)


def ghm_bin_index(g: Tensor, valid: Tensor, edges: Tensor) -> Tensor:
    """Bin of every sample; invalid or out-of-range samples get ``M``.

    A sample is in bin ``i`` iff ``edges[i] <= g < edges[i + 1]`` (mmdet's
    rule), which ``bucketize(..., right=True) - 1`` computes in one pass.
    Non-finite ``g`` also lands in the overflow slot ``M``.

    Args:
        g: Gradient norms, any shape, float32.
        valid: Bool mask, same shape.
        edges: ``[M + 1]`` float32 edges.

    Returns:
        int64 tensor shaped like ``g`` with values in ``[0, M]``.
    """
    bins = edges.numel() - 1
    idx = torch.bucketize(g, edges, right=True) - 1
    inside = valid & (idx >= 0) & (idx < bins)
    return torch.where(inside, idx, torch.full_like(idx, bins))


def ghm_bin_counts(bin_idx: Tensor, bins: int) -> Tensor:
    """``[M]`` float64 counts of the samples in each bin (overflow dropped).

    float64 keeps counts exact when they are later summed over ranks.
    """
    counts = torch.bincount(bin_idx.reshape(-1), minlength=bins + 1)
    return counts[:bins].to(torch.float64)


def ghm_ema_update(acc_sum: Tensor, ema_steps: Tensor, counts: Tensor,
                   momentum: float, accept: Tensor) -> Tuple[Tensor, Tensor]:
    """One EMA step of the per-bin counts, non-empty bins only (as mmdet).

    ``acc[i] <- momentum * acc[i] + (1 - momentum) * counts[i]`` where
    ``counts[i] > 0``; empty bins keep their value. ``ema_steps`` counts the
    updates of each bin (for bias correction). Nothing changes when
    ``accept`` is False (e.g. the batch had non-finite predictions), decided
    on the device without a host sync.

    Args:
        acc_sum: ``[M]`` float32 EMA of the counts.
        ema_steps: ``[M]`` float32 number of updates of each bin.
        counts: ``[M]`` float64 counts of this call.
        momentum: ``alpha`` in ``[0, 1)``.
        accept: 0-dim bool tensor.

    Returns:
        The new ``(acc_sum, ema_steps)``; the inputs are not modified.
    """
    update = (counts > 0) & accept
    new_acc = momentum * acc_sum.double() + (1.0 - momentum) * counts
    acc = torch.where(update, new_acc.to(acc_sum.dtype), acc_sum)
    steps = torch.where(update, ema_steps + 1, ema_steps)
    return acc, steps


def ghm_density(counts: Tensor,
                acc_sum: Tensor = None,
                ema_steps: Tensor = None,
                momentum: float = 0.0,
                bias_correction: bool = False) -> Tensor:
    """Per-bin density ``GD / n`` before multiplying by ``n``.

    Without momentum it is the counts; with momentum the (already updated)
    EMA, optionally divided by ``1 - momentum ** steps`` (Adam-style bias
    correction: a zero-initialised EMA otherwise under-estimates the counts
    by up to ``1 - momentum`` in the first iterations).

    Returns:
        ``[M]`` float64.
    """
    if momentum <= 0:
        return counts
    dens = acc_sum.double()
    if bias_correction:
        correction = 1.0 - momentum**ema_steps.double()
        dens = dens / correction.clamp_min(1e-12)
    return dens


def ghm_weights(bin_idx: Tensor, counts: Tensor, density: Tensor,
                tot: Tensor) -> Tensor:
    """Per-sample GHM weights ``tot / (density[bin] * n)``, 0 if invalid.

    Args:
        bin_idx: Bins from :func:`ghm_bin_index` (``M`` = invalid).
        counts: ``[M]`` counts of this call (decide which bins are
            non-empty, hence ``n``).
        density: ``[M]`` density per bin (:func:`ghm_density`).
        tot: 0-dim normaliser (number or total weight of valid samples).

    Returns:
        float32 weights shaped like ``bin_idx``.
    """
    nonempty = counts > 0
    n = nonempty.sum().clamp_min(1).double()
    per_bin = torch.where(nonempty & (density > 0),
                          tot.double() / (density * n),
                          torch.zeros_like(density))
    # Slot M (invalid samples) gets weight 0.
    per_bin = torch.cat([per_bin, per_bin.new_zeros(1)])
    return per_bin.float()[bin_idx]
