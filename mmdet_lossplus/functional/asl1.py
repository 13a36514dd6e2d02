"""Authentic smooth L1 (ASL1) and its gradient norm.

Li, Liu and Wang, "Gradient Harmonized Single-stage Detector", AAAI 2019,
eq. 11-12: ``ASL1(d) = sqrt(d^2 + mu^2) - mu``, smooth everywhere, about
``d^2 / (2 mu)`` near 0 and ``|d|`` far from it; its gradient norm
``g = |d| / sqrt(d^2 + mu^2)`` lies in ``[0, 1)``, which GHM-R bins.
"""
import torch
from torch import Tensor


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
