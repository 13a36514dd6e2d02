"""Gradient Harmonizing Mechanism (GHM): gradient norms, histograms, weights.

Li, Liu and Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019,
https://arxiv.org/abs/1811.05181.

Every sample (a logit for GHM-C, a regression coordinate for GHM-R) has a
gradient norm ``g`` in ``[0, 1]``. The range is cut into ``M`` bins; the
density of a sample is the count of its bin (or an EMA of it) times the
number ``n`` of non-empty bins, and its weight is ``tot / density`` where
``tot`` is the number (GHM-C) or total weight (GHM-R) of valid samples. The
loss is ``sum(weight * per-sample loss) / tot``.

All functions are vectorised (arithmetic binning + ``bincount``), need no
host synchronisation and work in float32 whatever the input precision. They
are split so that the per-bin counts can be summed over distributed ranks
between :func:`ghm_bin_counts` and :func:`ghm_weights`; this module itself
never communicates. The value and the gradient (``weight[bin] * dloss/dx``)
come from one pass over precomputed per-sample quantities
(:func:`with_gradient`), without an autograd graph of the intermediates.

On CPU the cost is memory traffic and allocation, not arithmetic: the
elementwise functions take optional
:class:`~mmdet_lossplus.functional.scratch.ScratchBuffers` to write their
large results into buffers reused between calls, and avoid bool masks
(docs/design.md, "What we learnt").
"""
from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .scratch import ScratchBuffers, scratch_tensor
from .torch_compat import accelerator_path, device_scalar


def ghmc_gradient_norm(pred: Tensor, target: Tensor) -> Tensor:
    """``g = |sigmoid(x) - y|`` of sigmoid cross-entropy, float32, detached.

    Args:
        pred: Logits of any shape.
        target: Binary targets, same shape.
    """
    return (pred.detach().float().sigmoid() - target.float()).abs()


def bin_dtype(bins: int) -> torch.dtype:
    """The narrowest integer type holding the slots ``[0, bins]``: uint8 up
    to 255 bins (one byte per sample), else int16, else int32."""
    if bins <= 255:
        return torch.uint8
    return torch.int16 if bins <= 32767 else torch.int32


def _store_bins(scaled: Tensor,
                out: Tensor,
                top: int,
                absolute: bool = False) -> Tensor:
    """``out = clamp(trunc(scaled), 0, top)`` (``|trunc|`` first with
    ``absolute``) in ``out``'s integer type. Narrow types go through int32
    slices of :data:`CHUNK`, so that a negative value or a NaN (INT_MIN)
    clamps as an integer instead of wrapping."""
    src, dst = scaled.reshape(-1), out.view(-1)
    if out.dtype == torch.int32:
        stage = dst.copy_(src)  # truncation toward 0 = floor for g >= 0
        if absolute:
            stage.abs_()  # truncation is symmetric: |trunc(v)| = trunc(|v|)
        stage.clamp_(0, top)
        return out
    work = torch.empty(
        min(src.numel(), CHUNK), dtype=torch.int32, device=src.device)
    for start in range(0, src.numel(), CHUNK):
        stop = min(start + CHUNK, src.numel())
        stage = work[:stop - start].copy_(src[start:stop])
        if absolute:
            stage.abs_()
        dst[start:stop].copy_(stage.clamp_(0, top))
    return out


def ghm_bin_index(g: Tensor,
                  bins: int,
                  valid: Optional[Tensor] = None,
                  absolute: bool = False,
                  out: Optional[Tensor] = None,
                  work: Optional[Tensor] = None) -> Tensor:
    """Bin of every sample, ``floor(g * M)`` clamped to ``[0, M - 1]``.

    Bin ``i`` holds ``i/M <= g < (i+1)/M`` and the last bin also ``g = 1``,
    the edges of the paper and of mmdet (whose float32 edges may put a
    ``g`` lying within one float32 ulp of an edge in the neighbouring bin
    instead). Arithmetic binning is two passes where ``bucketize`` makes a
    binary search per element. A non-finite ``g`` lands in some regular
    bin; callers detect it through the non-finite loss it comes with.

    Args:
        g: Gradient norms in [0, 1], any shape, float32.
        bins: ``M``.
        valid: Optional bool mask, same shape; invalid samples get ``M``.
        absolute: Bin ``|g|`` (saves a pass when ``g`` carries a sign).
        out: Optional integer tensor shaped like ``g`` (``bin_dtype(M)``
            or wider) to write the bins to.
        work: Optional float32 tensor shaped like ``g`` for the
            intermediate ``g * M`` (overwritten).

    Returns:
        ``bin_dtype(M)`` tensor shaped like ``g`` with values in
        ``[0, M]``.
    """
    scaled = torch.mul(g, bins, out=work) if work is not None else \
        torch.mul(g, bins)
    if out is None:
        out = torch.empty(g.shape, dtype=bin_dtype(bins), device=g.device)
    idx = _store_bins(scaled, out, bins - 1, absolute)
    if valid is not None:
        idx.masked_fill_(~valid, bins)
    return idx


def ghmc_elementwise(x: Tensor,
                     bins: int,
                     scratch: Optional[ScratchBuffers] = None
                     ) -> Tuple[Tensor, Tensor, Tensor]:
    """GHM-C per-logit quantities, every entry taken as a valid negative.

    For target 0: ``g = sigmoid(x)``, ``BCE = softplus(x)`` and
    ``dBCE/dx = sigmoid(x)``; callers correct the few positives and mark
    the ignored entries.

    Args:
        x: ``[N, C]`` float32 logits.
        bins: ``M``.
        scratch: Buffers to write the three results to (see
            :mod:`~mmdet_lossplus.functional.scratch`); fresh tensors
            without.

    Returns:
        ``(sigmoid(x), bin of sigmoid(x) (``bin_dtype``), softplus(x))``.
    """
    p = torch.sigmoid(
        x, out=scratch_tensor(scratch, 'ghm_a', x.shape, x.dtype, x.device))
    loss = scratch_tensor(scratch, 'ghm_b', x.shape, x.dtype, x.device)
    idx = ghm_bin_index(
        p,
        bins,
        out=scratch_tensor(scratch, 'ghm_idx', x.shape, bin_dtype(bins),
                           x.device),
        work=loss)
    torch.ops.aten.softplus.out(x, 1, 20, out=loss)  # F.softplus: no out=
    return p, idx, loss


def ghmc_index_targets(
    x: Tensor,
    target: Tensor,
    label_weight: Optional[Tensor],
    bins: int,
    scratch: Optional[ScratchBuffers] = None,
    select_rows: Optional[bool] = None
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """GHM-C per-logit quantities for class-index targets.

    One-hot targets are never built: every entry is first taken as a valid
    negative (:func:`ghmc_elementwise`), then the ignored entries (bin
    ``M``, whose weight is 0; their loss is left as it is) and the
    positives (the one entry of their row at their class) are corrected in
    place, in one of two ways with the same results:

    * ``select_rows`` (default on CPU): the positive and the ignored rows
      are selected (``nonzero``) and only they are touched. Cheapest where
      the data already are on the host.
    * otherwise (default on accelerators): nothing is selected, so nothing
      waits for the host: a gather and scatter over every row's entry at
      its class (background rows rewrite what they hold) and one integer
      ``maximum`` pass for the ignored rows.

    Args:
        x: ``[N, C]`` float32 logits (detached).
        target: ``[N]`` class indices in ``[0, C]``, ``C`` = background.
        label_weight: None, ``[N]`` or ``[N, C]``; entries <= 0 ignored.
        bins: ``M``.
        scratch: Buffers for the large results (see
            :mod:`~mmdet_lossplus.functional.scratch`).
        select_rows: See above; None chooses by ``x``'s device.

    Returns:
        ``(dBCE/dx, bin (int32), BCE, tot)``: the first three ``[N, C]``,
        ``tot`` the 0-dim number of valid entries. Weight the losses by
        their bin's weight (``ghm_weights`` gives bin ``M`` weight 0).
    """
    n, c = x.shape
    p, bin_idx, elem_loss = ghmc_elementwise(x, bins, scratch)
    if select_rows is None:
        select_rows = not accelerator_path(x.device)
    is_pos = target < c
    valid = None if label_weight is None else label_weight > 0
    if valid is None:
        tot = device_scalar(x.numel(), x.dtype, x.device)
    elif valid.dim() == 1:
        tot = valid.sum() * c
    else:
        tot = valid.sum()
    if select_rows:
        rows = torch.nonzero(is_pos).flatten()
        if valid is not None:
            if valid.dim() == 1:
                ignored = torch.nonzero(~valid).flatten()
                bin_idx.index_fill_(0, ignored, bins)
                rows = rows[valid[rows]]
            else:
                bin_idx.masked_fill_(~valid, bins)
                rows = rows[valid[rows, target[rows]]]
        flat = rows * c + target[rows]
        p_at = p.view(-1).index_select(0, flat)
        x_at = x.reshape(-1).index_select(0, flat)
        bin_idx.view(-1).index_copy_(0, flat, ghm_bin_index(1.0 - p_at, bins))
        # BCE of a positive, softplus(-x): exact where softplus(x) - x
        # would cancel for confident positives
        elem_loss.view(-1).index_copy_(0, flat, F.softplus(-x_at))
        p.view(-1).index_copy_(0, flat, p_at - 1.0)
        return p, bin_idx, elem_loss, tot
    flat = torch.arange(n, device=x.device) * c + \
        target.clamp(max=c - 1).long()
    valid_at = None
    if valid is not None:
        keep = valid.to(bin_idx.dtype)
        if valid.dim() == 1:
            keep = keep[:, None]
            valid_at = valid
        else:
            valid_at = valid.view(-1).index_select(0, flat)
        is_pos = is_pos & valid_at
        # max(bin, M) = M where ignored, max(bin, 0) = bin elsewhere
        torch.maximum(bin_idx, (1 - keep) * bins, out=bin_idx)
    # the values a row holds at its class, recomputed from the gathered
    # logit (one gather, not four)
    x_at = x.reshape(-1).index_select(0, flat)
    p_at = torch.sigmoid(x_at)
    held_bin = ghm_bin_index(p_at, bins)
    if valid_at is not None:
        held_bin = torch.where(valid_at, held_bin, bins)
    bin_idx.view(-1).index_copy_(
        0, flat, torch.where(is_pos, ghm_bin_index(1.0 - p_at, bins),
                             held_bin))
    elem_loss.view(-1).index_copy_(
        0, flat, torch.where(is_pos, F.softplus(-x_at), F.softplus(x_at)))
    p.view(-1).index_copy_(0, flat, torch.where(is_pos, p_at - 1.0, p_at))
    return p, bin_idx, elem_loss, tot


def ghmc_binary_targets(x: Tensor, y: Tensor, valid: Tensor,
                        bins: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """GHM-C per-logit quantities for ``[N, C]`` binary targets ``y`` and
    a validity mask; as :func:`ghmc_index_targets` returns them (ignored
    entries: bin ``M``, loss times 0)."""
    grad_elem = torch.sigmoid(x) - y
    bin_idx = ghm_bin_index(grad_elem.abs(), bins, valid)
    elem_loss = F.binary_cross_entropy_with_logits(
        x, y, reduction='none') * valid
    return grad_elem, bin_idx, elem_loss, valid.sum()


def ghm_weighted_sum(per_bin: Tensor,
                     bin_idx: Tensor,
                     elem_loss: Tensor,
                     grad_elem: Tensor,
                     in_place: bool = False,
                     work: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """``(sum_i w[bin_i] * loss_i, w[bin] * grad_elem)``; ``elem_loss`` is
    overwritten by the weighted losses.

    The weights are gathered :data:`CHUNK` samples at a time (no
    array of the input's size besides the gradient).

    Args:
        per_bin: ``[M + 1]`` float32 weights (0 for the invalid slot).
        bin_idx: int bins, any shape.
        elem_loss: Per-sample loss, same shape, contiguous.
        grad_elem: Per-sample derivative, same shape, contiguous.
        in_place: Write the gradient into ``grad_elem`` (and return it)
            instead of a fresh tensor; only for a ``grad_elem`` the caller
            may hand to autograd (not a scratch buffer).
        work: Optional float32 tensor with at least ``min(numel,
            CHUNK)`` elements for the gathered weights.
    """
    grad = grad_elem if in_place else torch.empty_like(grad_elem)
    idx, loss = bin_idx.reshape(-1), elem_loss.view(-1)
    g, out = grad_elem.view(-1), grad.view(-1)
    if work is None:
        work = per_bin.new_empty(min(idx.numel(), CHUNK))
    # float32 sums of the products, per slice, as mmdet's reduction does
    value = per_bin.new_zeros(())
    for start in range(0, idx.numel(), CHUNK):
        part = slice(start, min(start + CHUNK, idx.numel()))
        w = torch.index_select(
            per_bin, 0, idx[part].int(), out=work[:part.stop - start])
        value += torch.mul(w, loss[part], out=loss[part]).sum()
        torch.mul(w, g[part], out=out[part])
    return value, grad


def ghmr_elementwise(
        pred: Tensor,
        target: Tensor,
        label_weight: Optional[Tensor],
        mu: float,
        bins: int,
        scratch: Optional[ScratchBuffers] = None
) -> Tuple[Tensor, Tensor, Tensor]:
    """GHM-R per-coordinate quantities, computed as mmdet does.

    ``d = pred - target``, ``r = sqrt(d^2 + mu^2)``: ASL1 is ``r - mu``, its
    derivative ``d / r`` and the gradient norm ``|d| / r``.

    Ignored entries (``label_weight <= 0``) get ``d = 0`` (so loss and
    derivative 0) and bin ``M``, with float arithmetic only (no bool mask:
    see the module docstring). A non-finite value in an ignored entry
    therefore makes the loss non-finite, as in mmdet (whose zero weight
    times inf is NaN).

    Args:
        pred: Regression outputs (any float dtype).
        target: Targets, same shape.
        label_weight: Same shape or None (all valid).
        mu: ASL1 scale.
        bins: ``M``.
        scratch: Buffers for the results and two temporaries; fresh
            tensors without.

    Returns:
        ``(d / r (float32), bins (int32), r - mu (float32))``.
    """
    shape, dev, f32 = pred.shape, pred.device, torch.float32
    d = scratch_tensor(scratch, 'ghm_a', shape, f32, dev)
    if pred.dtype == f32 and target.dtype == f32:
        torch.sub(pred, target, out=d)
    else:  # subtract in float32, not in the inputs' half precision
        d.copy_(pred).sub_(target.float())
    ignored = None
    if label_weight is not None:
        # 1.0 where label_weight <= 0, else 0.0: 1 - max(sign(w), 0)
        ignored = torch.sign(
            label_weight,
            out=scratch_tensor(scratch, 'ghm_c', shape, f32, dev))
        ignored.clamp_(min=0).sub_(1).neg_()
        d.addcmul_(d, ignored, value=-1)  # d - d * 1 = 0, d - d * 0 = d
    root = torch.mul(
        d, d, out=scratch_tensor(scratch, 'ghm_b', shape, f32, dev))
    root.add_(mu * mu).sqrt_()
    grad = d.div_(root)
    loss = root.sub_(mu)
    # floor(|g| * M) capped at M - 1; ignored entries (g = 0) get M.
    scaled = torch.mul(
        grad, bins, out=scratch_tensor(scratch, 'ghm_d', shape, f32, dev))
    scaled.abs_().clamp_(max=bins - 1)
    if ignored is not None:
        scaled.add_(ignored, alpha=bins)  # exact: + 0 or 0 + M
    idx = scratch_tensor(scratch, 'ghm_idx', shape, bin_dtype(bins), dev)
    _store_bins(scaled, idx, bins)  # a NaN converts to INT_MIN, then 0
    return grad, idx, loss


_COUNT_LANES = 16
#: Samples per pass of :func:`ghm_bin_counts` (a multiple of the lanes).
CHUNK = _COUNT_LANES << 16


def ghm_bin_counts(bin_idx: Tensor,
                   bins: int,
                   fixed_slots: Optional[bool] = None,
                   work: Optional[Tensor] = None) -> Tensor:
    """``[M]`` float64 counts of the samples in each bin (slot ``M``, the
    invalid samples, dropped). float64 keeps them exact when summed over
    ranks.

    Counting runs on 16 interleaved sets of counters (element ``k`` counts
    in set ``k mod 16``, then the sets are summed): when most samples fall
    into one bin, as the regression norms of GHM-R do, a single set makes
    every increment wait for the previous one. The interleaved indices are
    built :data:`CHUNK` samples at a time (no array of the input's
    size). ``bincount`` on CPU; on other devices ``index_add_`` into the
    fixed slots (CUDA's ``bincount`` reads the largest index on the host).
    The float32 sums there are exact up to 2^24 samples per set and slot.

    Args:
        bin_idx: int bins in ``[0, M]``, any shape.
        bins: ``M``.
        fixed_slots: Count with ``index_add_`` into fixed slots instead of
            ``bincount``; None: off on CPU, on elsewhere.
        work: Optional int32 tensor with at least
            ``min(bin_idx.numel(), CHUNK)`` elements for the
            interleaved indices (overwritten).
    """
    lanes, slots = _COUNT_LANES, bins + 1
    flat = bin_idx.reshape(-1)
    n_main = flat.numel() // lanes * lanes
    offsets = torch.arange(
        lanes, dtype=torch.int32, device=flat.device) * slots
    if fixed_slots is None:
        fixed_slots = accelerator_path(flat.device)
    counts = torch.zeros(
        lanes * slots,
        dtype=torch.float32 if fixed_slots else torch.int64,
        device=flat.device)
    chunk = min(n_main, CHUNK)
    if work is None:
        work = torch.empty(chunk, dtype=torch.int32, device=flat.device)
    # elsewhere bincount reads the largest index on the host to size its
    # output (a round-trip); adding into fixed slots does not
    ones = torch.ones((), dtype=torch.float32,
                      device=flat.device).expand(max(chunk, lanes))
    for start in range(0, n_main, CHUNK):
        part = flat[start:min(start + CHUNK, n_main)]
        spread = torch.add(
            part.view(-1, lanes),
            offsets,
            out=work.view(-1)[:part.numel()].view(-1, lanes)).view(-1)
        if fixed_slots:
            counts.index_add_(0, spread, ones[:spread.numel()])
        else:
            counts += torch.bincount(spread, minlength=lanes * slots)
    counts = counts.view(lanes, slots).sum(0)
    tail = flat[n_main:].to(torch.int32)
    if fixed_slots:
        counts.index_add_(0, tail, ones[:tail.numel()])
    else:
        counts += torch.bincount(tail, minlength=slots)
    return counts[:bins].double()


def ghm_ema_update(acc_sum: Tensor, ema_steps: Tensor, counts: Tensor,
                   momentum: float) -> Tuple[Tensor, Tensor]:
    """One EMA step of the per-bin counts, non-empty bins only (as mmdet).

    ``acc[i] <- momentum * acc[i] + (1 - momentum) * counts[i]`` where
    ``counts[i] > 0``; empty bins keep their value. ``ema_steps`` counts the
    updates of each bin (for bias correction). Callers decide whether to
    store the result (e.g. not after a non-finite batch).

    Args:
        acc_sum: ``[M]`` float32 EMA of the counts.
        ema_steps: ``[M]`` float32 number of updates of each bin.
        counts: ``[M]`` float64 counts of this call.
        momentum: ``alpha`` in ``[0, 1)``.

    Returns:
        The new ``(acc_sum, ema_steps)``; the inputs are not modified.
    """
    update = counts > 0
    new_acc = momentum * acc_sum.double() + (1.0 - momentum) * counts
    acc = torch.where(update, new_acc.to(acc_sum.dtype), acc_sum)
    steps = torch.where(update, ema_steps + 1, ema_steps)
    return acc, steps


def ghm_density(counts: Tensor,
                acc_sum: Optional[Tensor] = None,
                ema_steps: Optional[Tensor] = None,
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
    if acc_sum is None or (bias_correction and ema_steps is None):
        raise ValueError('acc_sum (and ema_steps with bias_correction) are '
                         'needed when momentum > 0')
    dens = acc_sum.double()
    if bias_correction and ema_steps is not None:
        correction = 1.0 - momentum**ema_steps.double()
        dens = dens / correction.clamp_min(1e-12)
    return dens


def ghm_weights(counts: Tensor, density: Tensor, tot: Tensor) -> Tensor:
    """Per-bin GHM weight ``tot / (density * n)``, plus 0 for the invalid slot.

    Args:
        counts: ``[M]`` counts of this call (decide which bins are
            non-empty, hence ``n``).
        density: ``[M]`` density per bin (:func:`ghm_density`).
        tot: 0-dim normaliser (number or total weight of valid samples).

    Returns:
        ``[M + 1]`` float64; index it with the bins of
        :func:`ghm_bin_index` to weight every sample.
    """
    nonempty = counts > 0
    n = nonempty.sum().clamp_min(1).double()
    per_bin = torch.where(nonempty & (density > 0),
                          tot.double() / (density * n),
                          torch.zeros_like(density))
    return torch.cat([per_bin, per_bin.new_zeros(1)])


class _WithGradient(torch.autograd.Function):
    """Return a precomputed value whose gradient is precomputed too."""

    @staticmethod
    def forward(ctx: Any, pred: Tensor, value: Tensor, grad: Tensor) -> Tensor:
        ctx.save_for_backward(grad)
        ctx.dtype = pred.dtype
        ctx.consumed = False
        return value

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> Tuple[Tensor, None, None]:
        if ctx.consumed:
            raise RuntimeError(
                'a loss built with with_gradient was differentiated twice '
                '(retain_graph=True); its saved gradient was scaled in '
                'place by the first backward. Compute the loss again for a '
                'second backward.')
        ctx.consumed = True
        grad, = ctx.saved_tensors
        # In place: a fresh multi-megabyte result costs page faults on CPU
        # comparable to the multiply itself; the saved tensor is not used
        # again (guarded above).
        return grad.mul_(upstream.to(grad.dtype)).to(ctx.dtype), None, None


def with_gradient(pred: Tensor, value: Tensor, grad: Tensor) -> Tensor:
    """``value`` as a function of ``pred`` with ``d value / d pred = grad``.

    Lets a loss compute its value and its gradient in one fused forward
    pass (no autograd graph of the intermediates): backward is one multiply.

    Args:
        pred: The tensor to differentiate with respect to.
        value: 0-dim value, or elementwise values shaped like ``pred``.
        grad: Shaped like ``pred``: the gradient of ``value.sum()``.
    """
    out: Tensor = _WithGradient.apply(  # type: ignore[no-untyped-call]
        pred, value, grad)
    return out
