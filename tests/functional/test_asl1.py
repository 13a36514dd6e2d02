"""ASL1 (GHM paper, eq. 11-12): values and gradient norms by hand."""
import math

import pytest
import torch

from mmdet_lossplus.functional.asl1 import asl1_gradient_norm, asl1_loss


@pytest.mark.parametrize('d', [0.0, 1e-4, 0.01, 0.3, -2.0, 50.0])
def test_asl1_values_and_gradient_norm(d):
    mu = 0.02
    t = torch.tensor([d], dtype=torch.float64, requires_grad=True)
    loss = asl1_loss(t, mu)
    assert loss.item() == pytest.approx(
        math.sqrt(d * d + mu * mu) - mu, abs=1e-15)
    loss.sum().backward()
    # g is |dL/dd| by definition.
    assert asl1_gradient_norm(t, mu).item() == pytest.approx(
        abs(t.grad.item()), rel=1e-6, abs=1e-12)  # g is float32


def test_asl1_half_is_computed_in_float32():
    d = torch.tensor([0.001, 3.0], dtype=torch.float16)
    assert asl1_loss(d).dtype == torch.float32
    assert torch.allclose(asl1_loss(d), asl1_loss(d.float()))
