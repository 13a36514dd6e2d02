import math

import pytest
import torch
import torch.nn.functional as F

from mmdet_lossplus.functional.multibin import (bin_centres, make_spec,
                                                multibin_decode,
                                                multibin_encode, multibin_loss,
                                                split_channels)


def mmdet3d_multibin_loss(pred_orientations, gt_orientations, num_dir_bins=4):
    """mmdet3d 1.x ``multibin_loss`` transcribed as shipped: its ``return``
    sits inside the loop over bins, so only bin 0 is ever used."""
    cls_losses = 0
    reg_losses = 0
    reg_cnt = 0
    for i in range(num_dir_bins):
        cls_ce_loss = F.cross_entropy(
            pred_orientations[:, (i * 2):(i * 2 + 2)],
            gt_orientations[:, i].long(),
            reduction='mean')
        valid_mask_i = (gt_orientations[:, i] == 1)
        cls_losses += cls_ce_loss
        if valid_mask_i.sum() > 0:
            start = num_dir_bins * 2 + i * 2
            end = start + 2
            pred_offset = F.normalize(pred_orientations[valid_mask_i,
                                                        start:end])
            gt_offset_sin = torch.sin(gt_orientations[valid_mask_i,
                                                      num_dir_bins + i])
            gt_offset_cos = torch.cos(gt_orientations[valid_mask_i,
                                                      num_dir_bins + i])
            reg_loss = F.l1_loss(
                pred_offset[:, 0], gt_offset_sin,
                reduction='none') + F.l1_loss(
                    pred_offset[:, 1], gt_offset_cos, reduction='none')
            reg_losses += reg_loss.sum()
            reg_cnt += valid_mask_i.sum()
        return cls_losses / num_dir_bins + reg_losses / reg_cnt


def test_bins_centres_and_membership_by_hand():
    spec = make_spec(4, overlap=0.0)
    # width pi/2: centres -3pi/4, -pi/4, pi/4, 3pi/4
    centres = bin_centres(spec, torch.zeros(1, dtype=torch.float64))
    assert torch.allclose(
        centres,
        torch.tensor([-3, -1, 1, 3], dtype=torch.float64) * math.pi / 4)
    t = torch.tensor([0.1, -3.0, 3.0, math.pi / 2 + 0.2])
    member = multibin_encode(t, spec)[:, :4]
    assert member.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1],
                               [0, 0, 0, 1]]
    # 50 % overlap: half-cover 3/8 pi; 0.1 is 0.885 from -pi/4 (< 1.178)
    member = multibin_encode(t, make_spec(4, overlap=0.5))[:, :4]
    assert member[0].tolist() == [0, 1, 1, 0]
    # wrap-around: 3.0 is 0.785 + (pi - 3.0) = 0.927 from bin 0 (-3pi/4)
    assert member[2].tolist() == [1, 0, 0, 1]


def test_residual_encoding_by_hand():
    spec = make_spec(4)
    enc = multibin_encode(torch.tensor([1.0]), spec)
    _, res = split_channels(enc, spec)
    d = 1.0 - math.pi / 4  # offset from the covering centre
    assert res[0, 2].tolist() == pytest.approx([math.sin(d), math.cos(d)])
    # non-periodic: offset in bin widths, one channel
    lin = make_spec(5, low=0.0, high=10.0, periodic=False)
    enc = multibin_encode(torch.tensor([3.5]), lin)
    member, res = split_channels(enc, lin)
    assert member[0].tolist() == [0, 1, 0, 0, 0]
    assert res[0, 1, 0].item() == pytest.approx(0.25)  # (3.5 - 3) / 2


@pytest.mark.parametrize('overlap', [0.0, 0.3, 0.9])
@pytest.mark.parametrize('num_bins', [2, 4, 7])
def test_round_trip_exact_for_every_covering_bin(num_bins, overlap):
    spec = make_spec(num_bins, overlap=overlap)
    t = torch.cat([
        torch.linspace(-math.pi, math.pi, 1001)[:-1],
        torch.tensor([math.pi - 1e-4, -math.pi + 1e-4, 3.14159])
    ]).double()
    enc = multibin_encode(t, spec)
    member, res = split_channels(enc, spec)
    assert (member.sum(-1) >= 1).all()
    for k in range(num_bins):
        rows = member[:, k] > 0
        # make bin k the most confident one
        logits = member.clone() * 0
        logits[:, k] = 1
        value = multibin_decode(
            torch.cat([logits, enc[:, num_bins:]], 1), spec)[rows]
        err = torch.remainder(value - t[rows] + math.pi, 2 * math.pi) - math.pi
        assert err.abs().max() < 1e-5, k


def test_non_periodic_round_trip_and_clamp():
    spec = make_spec(3, low=-1.0, high=2.0, periodic=False, overlap=0.2)
    t = torch.tensor([-1.0, -0.2, 0.5, 1.99, 2.0, 5.0])
    value = multibin_decode(multibin_encode(t, spec), spec)
    assert torch.allclose(value, t.clamp(-1.0, 2.0), atol=1e-6)


def test_expectation_decoding_circular_mean():
    spec = make_spec(4)
    # equal confidence in the bins centred at 3pi/4 and -3pi/4: circular
    # mean pi (a plain mean would give 0)
    logits = torch.tensor([[10., -10., -10., 10.]])
    zero_res = torch.tensor([[0., 1.] * 4])  # residual angle 0
    pred = torch.cat([logits, zero_res], 1)
    value = multibin_decode(pred, spec, 'expectation')
    assert abs(abs(value.item()) - math.pi) < 1e-4
    # without residuals too; and a one-hot expectation is the argmax
    assert torch.allclose(
        multibin_decode(pred, spec, 'expectation', use_residual=False).abs(),
        torch.tensor([math.pi]),
        atol=1e-4)
    enc = multibin_encode(torch.tensor([0.4, -2.0]), spec)
    sharp = torch.cat([enc[:, :4] * 50, enc[:, 4:]], 1)
    assert torch.allclose(
        multibin_decode(sharp, spec, 'expectation'),
        torch.tensor([0.4, -2.0]),
        atol=1e-4)


def test_loss_by_hand_and_every_bin_trained():
    spec = make_spec(4)
    t = torch.tensor([1.0])  # covered by bin 2 only
    enc = multibin_encode(t, spec)
    pred = torch.zeros(1, 12)
    pred[0, 4:] = torch.tensor([0., 1.] * 4)  # residual angle 0 everywhere
    pred.requires_grad_(True)
    terms = multibin_loss(pred, enc, spec)
    d = 1.0 - math.pi / 4
    assert terms.cls.item() == pytest.approx(math.log(2))  # BCE at logit 0
    assert terms.reg.item() == pytest.approx(1 - math.cos(d), rel=1e-6)
    assert terms.covered.item() == 1
    (terms.cls + terms.reg).sum().backward()
    # bin 2's residual channels (8, 9) get a gradient, bins 0, 1, 3 not
    assert pred.grad[0, 8:10].abs().sum() > 0
    assert pred.grad[0, 4:8].abs().sum() == 0
    assert pred.grad[0, 10:12].abs().sum() == 0


def test_mmdet3d_only_trains_bin_zero():
    # mmdet3d's layout: [2 logits per bin | 2 residuals per bin]; its
    # targets: [memberships | residual angles]. A target in bin 2 only.
    n = 4
    gt = torch.zeros(2, 2 * n)
    gt[0, 2] = 1.0  # row 0: bin 2 only
    gt[0, n + 2] = 0.3
    with pytest.raises(ZeroDivisionError):  # no row in bin 0: 0 / 0
        mmdet3d_multibin_loss(torch.randn(1, 4 * n), gt[:1], n)
    gt[1, 0] = 1.0  # row 1: bin 0 only
    gt[1, n] = -0.2
    pred = torch.randn(2, 4 * n, requires_grad=True)
    mmdet3d_multibin_loss(pred, gt, n).backward()
    # nothing reaches bins 1-3: neither logits nor residuals
    assert pred.grad[:, 2:2 * n].abs().sum() == 0
    assert pred.grad[:, 2 * n + 2:].abs().sum() == 0
    assert pred.grad[1, 2 * n:2 * n + 2].abs().sum() > 0
    # ours trains bin 2's logit and residual
    spec = make_spec(n)
    ours = torch.zeros(1, spec.channels, requires_grad=True)
    terms = multibin_loss(ours, multibin_encode(torch.tensor([1.0]), spec),
                          spec)
    (terms.cls + terms.reg).sum().backward()
    assert ours.grad[0, 2] != 0 and ours.grad[0, 8:10].abs().sum() > 0


def test_residual_loss_has_no_spurious_minimum():
    # L1 between (sin, cos) vectors (mmdet3d's form) has local minima
    # where sin or cos alone matches: at the mirror angle pi - d it is
    # 2 |cos d| > 0 yet every small step increases it. 1 - cos has none.
    spec = make_spec(4)
    enc = multibin_encode(torch.tensor([1.0]), spec)
    d = 1.0 - math.pi / 4  # true residual angle in bin 2
    mirror = math.pi - d
    true = torch.tensor([math.sin(d), math.cos(d)])

    def l1(theta):
        v = torch.tensor([math.sin(theta), math.cos(theta)])
        return (v - true).abs().sum().item()

    assert l1(mirror) == pytest.approx(2 * math.cos(d), rel=1e-5)
    assert l1(mirror - 0.05) > l1(mirror) < l1(mirror + 0.05)

    pred = torch.zeros(1, 12)
    pred[0, 8:10] = torch.tensor([math.sin(mirror), math.cos(mirror)])
    pred.requires_grad_(True)
    before = multibin_loss(pred, enc, spec).reg
    before.sum().backward()
    after = multibin_loss(pred.detach() - 0.1 * pred.grad, enc, spec).reg
    assert after < before - 1e-3  # descent leaves the mirror angle


def test_weights_and_no_covering_row():
    spec = make_spec(4)
    enc = multibin_encode(torch.tensor([0.3, 2.0]), spec)
    pred = torch.randn(2, 12)
    w = torch.tensor([1.0, 0.0])
    terms = multibin_loss(pred, enc, spec, w)
    one = multibin_loss(pred[:1], enc[:1], spec)
    assert terms.cls[1] == 0 and terms.reg[1] == 0 and terms.covered[1] == 0
    assert torch.allclose(terms.cls[0], one.cls[0])
    # nothing at all: sums are 0, no NaN anywhere
    empty = multibin_loss(pred[:0], enc[:0], spec)
    assert empty.reg.sum() == 0 and empty.covered.sum() == 0


def test_expectation_term_is_zero_at_a_perfect_sharp_prediction():
    spec = make_spec(6, overlap=0.3)
    t = torch.tensor([0.2, -3.1, 3.1, 1.7])
    enc = multibin_encode(t, spec)
    sharp = torch.cat([(enc[:, :6] * 2 - 1) * 30, enc[:, 6:]], 1)
    with_exp = multibin_loss(sharp, enc, spec, expectation_weight=1.0)
    without = multibin_loss(sharp, enc, spec)
    assert torch.allclose(with_exp.cls, without.cls, atol=1e-4)


def test_errors():
    with pytest.raises(ValueError, match='num_bins must be an int >= 2'):
        make_spec(1)
    with pytest.raises(ValueError, match='overlap must be'):
        make_spec(4, overlap=1.0)
    with pytest.raises(ValueError, match='overlap must be'):
        make_spec(4, overlap=-0.1)
    with pytest.raises(ValueError, match='high must be > low'):
        make_spec(4, low=1.0, high=1.0)
    with pytest.raises(ValueError, match='target must be finite'):
        multibin_encode(torch.tensor([0.0, float('nan')]), make_spec(4))
    with pytest.raises(ValueError, match='last dimension must be'):
        multibin_decode(torch.zeros(3, 10), make_spec(4))
    with pytest.raises(ValueError, match="mode must be 'argmax'"):
        multibin_decode(torch.zeros(3, 12), make_spec(4), mode='mean')
