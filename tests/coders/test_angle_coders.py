import math

import pytest
import torch

from mmdet_lossplus.coders import (MultiBinCoder, RawAngleCoder,
                                   SinCosAngleCoder, wrap_angle)
from mmdet_lossplus.registry import TASK_UTILS

ANGLES = torch.tensor([-math.pi, -2.0, 0.0, 1.0, 3.1, 7.0])


@pytest.mark.parametrize('cfg', [
    dict(type='mmdet_lossplus.MultiBinCoder', num_bins=6, overlap=0.3),
    dict(type='mmdet_lossplus.RawAngleCoder'),
    dict(type='mmdet_lossplus.SinCosAngleCoder')
])
def test_round_trip_wraps_to_minus_pi_pi(cfg):
    coder = TASK_UTILS.build(cfg)
    enc = coder.encode(ANGLES)
    assert enc.shape == (6, coder.channels)
    dec = coder.decode(enc)
    assert torch.allclose(wrap_angle(dec - ANGLES), torch.zeros(6), atol=1e-5)
    assert (dec >= -math.pi).all() and (dec < math.pi).all()


def test_channels():
    assert MultiBinCoder(num_bins=6).channels == 18
    assert RawAngleCoder().channels == 1
    assert SinCosAngleCoder().channels == 2


def test_expectation_decoding_of_a_two_bin_tie_is_between_them():
    coder = MultiBinCoder(num_bins=4, decode_mode='expectation')
    pred = torch.tensor([[0., 0., -30., -30.] + [0., 1.] * 4])
    # bins centred at -3pi/4 and -pi/4: circular mean -pi/2
    assert coder.decode(pred).item() == pytest.approx(-math.pi / 2, abs=1e-4)


def test_errors():
    with pytest.raises(ValueError, match='decode_mode'):
        MultiBinCoder(decode_mode='median')
    with pytest.raises(ValueError, match='finite'):
        SinCosAngleCoder().encode(torch.tensor([float('inf')]))
    with pytest.raises(TypeError, match='floating-point'):
        RawAngleCoder().encode(torch.tensor([1]))


@pytest.mark.parametrize(
    'coder', [RawAngleCoder(),
              SinCosAngleCoder(),
              MultiBinCoder(num_bins=4)])
def test_decode_checks_its_input(coder):
    with pytest.raises(ValueError, match=rf'\[N, {coder.channels}\]'):
        coder.decode(torch.zeros(3, coder.channels - 1))
    with pytest.raises(ValueError, match='shape'):
        coder.decode(torch.zeros(coder.channels))
    with pytest.raises(TypeError, match='floating'):
        coder.decode(torch.zeros(3, coder.channels, dtype=torch.long))


@pytest.mark.parametrize('mode', ['argmax', 'expectation'])
@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_multibin_decode_of_non_finite_logits_is_nan(mode, value):
    coder = MultiBinCoder(num_bins=4, decode_mode=mode)
    pred = torch.zeros(3, coder.channels)
    pred[:, 4:] = torch.tensor([0.0, 1.0] * 4)  # residual angle 0
    pred[1, 2] = value
    out = coder.decode(pred)
    assert torch.isnan(out[1])
    assert torch.isfinite(out[[0, 2]]).all()
