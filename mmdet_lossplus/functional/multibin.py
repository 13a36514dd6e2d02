"""Multi-bin encoding, decoding and loss for multimodal or periodic targets.

Mousavian et al., "3D Bounding Box Estimation Using Deep Learning and
Geometry", CVPR 2017, section 3.3: the range of a target (there, an
orientation angle) is split into ``n`` overlapping bins; for every bin the
network predicts a confidence (does the target fall in this bin?) and a
residual from the bin centre ((sin, cos) of the residual angle for a
periodic range). Training classifies every bin and regresses the residual
of the bins that cover the target; decoding takes the most confident bin
plus its residual. The expectation variant (Kundu et al., "3D-RCNN", CVPR
2018) decodes the probability-weighted circular mean of the bin centres
(optionally with their residuals), which is differentiable.

Layout of a prediction or an encoded target row, ``C = n * (1 + R)``
channels: ``[n bin logits / memberships | n * R residuals]``, residuals bin
major, ``R = 2`` ((sin, cos)) for a periodic range and ``R = 1`` (residual
divided by the bin width) otherwise.

mmdet3d's ``MultiBinLoss`` returns from inside its loop over bins, so only
bin 0 is ever trained; here every bin is.
"""
import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_int, check_number


class MultiBinSpec(NamedTuple):
    """Bins over ``[low, high)``: centres ``low + (k + 1/2) * width``, each
    covering ``|t - centre| <= (1 + overlap) * width / 2`` (distance taken
    modulo the period for a periodic range)."""
    num_bins: int
    low: float
    high: float
    periodic: bool
    overlap: float

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.num_bins

    @property
    def half_cover(self) -> float:
        return (1 + self.overlap) * self.width / 2

    @property
    def residual_dims(self) -> int:
        return 2 if self.periodic else 1

    @property
    def channels(self) -> int:
        return self.num_bins * (1 + self.residual_dims)


def make_spec(num_bins: int,
              low: float = -math.pi,
              high: float = math.pi,
              periodic: bool = True,
              overlap: float = 0.0) -> MultiBinSpec:
    """Validated :class:`MultiBinSpec` (``ValueError`` naming the argument).
    """
    check_int('num_bins', num_bins, 2)
    check_number('overlap', overlap, 0, 1, high_open=True)
    check_number('low', low)
    check_number('high', high)
    if not high > low:
        raise ValueError(f'high must be > low, got low={low!r}, '
                         f'high={high!r}')
    return MultiBinSpec(num_bins, float(low), float(high), bool(periodic),
                        float(overlap))


def bin_centres(spec: MultiBinSpec, like: Tensor) -> Tensor:
    """``[n]`` bin centres in ``like``'s dtype and device."""
    k = torch.arange(spec.num_bins, device=like.device, dtype=like.dtype)
    return spec.low + (k + 0.5) * spec.width


def wrap_periodic(value: Tensor, low: float, high: float) -> Tensor:
    """``value`` moved by whole periods ``high - low`` into ``[low, high)``.
    """
    return torch.remainder(value - low, high - low) + low


def wrap(value: Tensor, spec: MultiBinSpec) -> Tensor:
    """Periodic range: ``value`` moved into ``[low, high)``; else as is."""
    if not spec.periodic:
        return value
    return wrap_periodic(value, spec.low, spec.high)


def _offsets(target: Tensor, spec: MultiBinSpec) -> Tensor:
    """``[..., n]`` signed distance of the target from each centre (for a
    periodic range the shortest one, in ``[-period/2, period/2)``)."""
    diff = target[..., None] - bin_centres(spec, target)
    if spec.periodic:
        half = (spec.high - spec.low) / 2
        diff = wrap_periodic(diff, -half, half)
    return diff


def check_targets(target: Tensor) -> None:
    if not torch.is_tensor(target) or not target.is_floating_point():
        raise TypeError('target must be a floating-point tensor, got '
                        f'{getattr(target, "dtype", type(target))}')
    if not torch.isfinite(target).all():
        raise ValueError('target must be finite; got NaN or inf values')


def multibin_encode(target: Tensor, spec: MultiBinSpec) -> Tensor:
    """Encode targets into bin memberships and per-bin residuals.

    Args:
        target: ``[...]`` finite values (angles in radians for the default
            ``[-pi, pi)`` periodic range).
        spec: The bins.

    Returns:
        ``[..., n * (1 + R)]`` float32: memberships (1 where the bin covers
        the target, else 0) then residuals; a non-periodic target is
        clamped to ``[low, high]`` first; a periodic residual is
        ``(sin d, cos d)`` with ``d`` the offset from the centre as an
        angle (scaled by ``2 pi / period``), a non-periodic one
        ``offset / width``. Residuals of non-covering bins are encoded too
        (the loss ignores them).
    """
    check_targets(target)
    target = target.float()
    if not spec.periodic:  # outside values count as the nearest edge
        target = target.clamp(spec.low, spec.high)
    diff = _offsets(target, spec)
    member = diff.abs() <= spec.half_cover
    # the nearest bin always covers: rounding at a border of
    # non-overlapping bins must not leave a target without any bin
    member.scatter_(-1, diff.abs().argmin(-1, keepdim=True), True)
    member = member.float()
    if spec.periodic:
        phase = diff * (2 * math.pi / (spec.high - spec.low))
        residual = torch.stack([phase.sin(), phase.cos()], -1)
    else:
        residual = (diff / spec.width)[..., None]
    return torch.cat([member, residual.flatten(-2)], -1)


def split_channels(pred: Tensor, spec: MultiBinSpec) -> Tuple[Tensor, Tensor]:
    """``[..., C]`` -> logits ``[..., n]`` and residuals ``[..., n, R]``."""
    if pred.shape[-1] != spec.channels:
        raise ValueError(f'last dimension must be num_bins * (1 + R) = '
                         f'{spec.channels}, got {pred.shape[-1]} '
                         f'(shape {tuple(pred.shape)})')
    n = spec.num_bins
    logits = pred[..., :n]
    residual = pred[..., n:].reshape(*pred.shape[:-1], n, spec.residual_dims)
    return logits, residual


def _residual_value(residual: Tensor, spec: MultiBinSpec) -> Tensor:
    """``[..., n, R]`` -> ``[..., n]`` offsets in target units."""
    if spec.periodic:
        phase = torch.atan2(residual[..., 0], residual[..., 1])
        return phase * ((spec.high - spec.low) / (2 * math.pi))
    return residual[..., 0] * spec.width


def multibin_decode(pred: Tensor,
                    spec: MultiBinSpec,
                    mode: str = 'argmax',
                    use_residual: bool = True) -> Tensor:
    """Decode ``[..., C]`` predictions (or encoded targets) to values.

    Args:
        pred: ``[..., C]`` bin logits (any monotone score works for
            ``'argmax'``) and residuals.
        spec: The bins.
        mode: ``'argmax'``: centre of the most confident bin plus its
            residual (ties: the lowest bin). ``'expectation'``: circular
            (periodic) or plain mean of the bin values weighted by
            ``softmax(logits)``.
        use_residual: Add each bin's residual to its centre.

    Returns:
        ``[...]`` values in ``[low, high)`` for a periodic range; NaN for
        rows with a non-finite logit.
    """
    if mode not in ('argmax', 'expectation'):
        raise ValueError(f"mode must be 'argmax' or 'expectation', got "
                         f'{mode!r}')
    logits, residual = split_channels(pred.float(), spec)
    values = bin_centres(spec, logits).expand_as(logits)
    if use_residual:
        values = values + _residual_value(residual, spec)
    if mode == 'argmax':
        best = logits.argmax(-1, keepdim=True)
        # a non-finite logit makes the row's bin choice meaningless: NaN
        # (0 * inf is NaN too), not some finite bin centre
        poison = logits.sum(-1) * 0.0
        return wrap(values.gather(-1, best).squeeze(-1), spec) + poison
    prob = logits.softmax(-1)
    if not spec.periodic:
        return (prob * values).sum(-1)
    scale = 2 * math.pi / (spec.high - spec.low)
    phase = (values - spec.low) * scale
    mean = torch.atan2((prob * phase.sin()).sum(-1),
                       (prob * phase.cos()).sum(-1))
    return wrap(mean / scale + spec.low, spec)


class MultiBinTerms(NamedTuple):
    """Per-row parts of the multi-bin loss, each ``[N]``, row-weighted."""
    cls: Tensor  # mean BCE over bins (+ expectation term)
    reg: Tensor  # residual loss summed over the covering bins
    covered: Tensor  # number of covering bins


def multibin_loss(pred: Tensor,
                  encoded: Tensor,
                  spec: MultiBinSpec,
                  weight: Optional[Tensor] = None,
                  expectation_weight: float = 0.0) -> MultiBinTerms:
    """Per-row terms of the multi-bin loss.

    Classification: binary cross-entropy of every bin's logit against its
    membership, averaged over the ``n`` bins. Regression, covering bins
    only: ``1 - cos(predicted - true residual angle)`` with the predicted
    ``(sin, cos)`` L2-normalised, or smooth L1 of ``offset / width`` for a
    non-periodic range. With ``expectation_weight > 0`` the classification
    term also gets ``1 - cos(expectation-decoded - target)`` (periodic, as
    an angle) or the smooth L1 of the expectation in bin widths.

    Args:
        pred: ``[N, C]`` predictions.
        encoded: ``[N, C]`` :func:`multibin_encode` of the targets.
        spec: The bins.
        weight: Optional ``[N]`` row weights (0 ignores a row).
        expectation_weight: Multiplier of the expectation term.

    Returns:
        :class:`MultiBinTerms`. A reduction divides ``reg.sum()`` by
        ``covered.sum()`` clamped to >= 1, so a batch in which no row
        covers some bin, or no row at all, never divides by zero.
    """
    logits, residual = split_channels(pred.float(), spec)
    member, target_res = split_channels(encoded.float(), spec)
    if weight is None:
        weight = logits.new_ones(logits.shape[:-1])
    weight = weight.float()
    cls = F.binary_cross_entropy_with_logits(
        logits, member, reduction='none').mean(-1)
    if spec.periodic:
        # 1 - cos of the angle between predicted and true residual
        # (Mousavian et al.'s loss). mmdet3d's L1 between the normalised
        # vectors has a spurious local minimum at the opposite direction
        # (|sin| grows faster than |cos - 1| falls), where training stalls.
        unit = F.normalize(residual, dim=-1, eps=1e-6)
        reg = 1 - (unit * target_res).sum(-1)
    else:
        reg = F.smooth_l1_loss(
            residual, target_res, reduction='none', beta=1.0 / 9).sum(-1)
    reg = (reg * member).sum(-1)
    if expectation_weight > 0:
        expected = multibin_decode(pred, spec, 'expectation')
        # memberships as logits: the first covering bin plus its residual
        # is the target itself
        true = multibin_decode(encoded, spec, 'argmax')
        if spec.periodic:
            scale = 2 * math.pi / (spec.high - spec.low)
            extra = 1 - torch.cos((expected - true) * scale)
        else:
            extra = F.smooth_l1_loss(
                expected / spec.width,
                true / spec.width,
                reduction='none',
                beta=1.0 / 9)
        cls = cls + expectation_weight * extra
    return MultiBinTerms(cls * weight, reg * weight, member.sum(-1) * weight)
