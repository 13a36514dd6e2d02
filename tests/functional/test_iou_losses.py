import math

import pytest
import torch
from iou_reference import tv_ciou_loss, tv_diou_iou_loss, tv_giou_loss
from mmdet.models.losses.iou_loss import ciou_loss as mmdet_ciou
from mmdet.models.losses.iou_loss import diou_loss as mmdet_diou
from mmdet.models.losses.iou_loss import giou_loss as mmdet_giou
from mmdet.models.losses.iou_loss import iou_loss as mmdet_iou

from mmdet_lossplus.functional.iou_losses import (box_pair_terms, ciou_loss,
                                                  diou_loss, giou_loss,
                                                  iou_loss)

LOSSES = {
    'iou': lambda p, t: iou_loss(p, t, 'linear'),
    'giou': giou_loss,
    'diou': diou_loss,
    'ciou': ciou_loss,
    'ciou_gated': lambda p, t: ciou_loss(p, t, alpha='gated'),
}


def random_pairs(n, seed=0, dtype=torch.float64):
    """Proper boxes (x2 > x1, y2 > y1), many overlapping, some disjoint."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 2, generator=g, dtype=dtype) * 100
    size = torch.rand(n, 2, generator=g, dtype=dtype) * 60 + 2
    target = torch.cat([centre - size / 2, centre + size / 2], 1)
    shift = torch.randn(n, 2, generator=g, dtype=dtype) * size * 0.4
    scale = torch.exp(torch.randn(n, 2, generator=g, dtype=dtype) * 0.4)
    pc, ps = centre + shift, size * scale
    pred = torch.cat([pc - ps / 2, pc + ps / 2], 1)
    return pred, target


# ---- hand-computed values ----------------------------------------------


def test_shifted_squares_by_hand():
    # [0,0,2,2] vs [1,1,3,3]: inter 1, union 7, enclosing 3x3, centres
    # (1,1) and (2,2): rho^2 = 2, c^2 = 18. Same aspect ratio: v = 0.
    p = torch.tensor([[0., 0., 2., 2.]], dtype=torch.float64)
    t = torch.tensor([[1., 1., 3., 3.]], dtype=torch.float64)
    e = 1e-12
    assert iou_loss(p, t, 'linear', e).item() == pytest.approx(6 / 7)
    assert iou_loss(p, t, 'square', e).item() == pytest.approx(48 / 49)
    assert iou_loss(p, t, 'log', e).item() == pytest.approx(math.log(7))
    assert giou_loss(p, t, e).item() == pytest.approx(1 - 1 / 7 + 2 / 9)
    assert diou_loss(p, t, e).item() == pytest.approx(1 - 1 / 7 + 1 / 9)
    assert ciou_loss(p, t, e).item() == pytest.approx(1 - 1 / 7 + 1 / 9)


def test_crossed_rectangles_by_hand():
    # [0,0,4,2] vs [0,0,2,4]: inter 4, union 12 (IoU 1/3), enclosing 4x4
    # (c^2 = 32), centres (2,1) and (1,2) (rho^2 = 2).
    p = torch.tensor([[0., 0., 4., 2.]], dtype=torch.float64)
    t = torch.tensor([[0., 0., 2., 4.]], dtype=torch.float64)
    e = 1e-12
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(2.0))**2
    alpha = v / (2 / 3 + v)
    diou = 1 - 1 / 3 + 2 / 32
    assert giou_loss(p, t, e).item() == pytest.approx(1 - 1 / 3 + 4 / 16)
    assert diou_loss(p, t, e).item() == pytest.approx(diou)
    assert ciou_loss(p, t, e).item() == pytest.approx(diou + alpha * v)
    # IoU 1/3 <= 0.5: the gated alpha drops the aspect term.
    assert ciou_loss(p, t, e, alpha='gated').item() == pytest.approx(diou)


def test_identical_boxes_have_zero_loss_for_every_member():
    b = torch.tensor([[3., 4., 10., 20.], [0., 0., 1., 1.]])
    for name, fn in LOSSES.items():
        assert torch.allclose(fn(b, b), torch.zeros(2), atol=1e-6), name


def test_alpha_is_a_constant_in_the_gradient():
    # torchvision's transcription (tests/iou_reference.py) computes alpha
    # under no_grad; with alpha differentiated the gradient differs
    p, t = random_pairs(50, seed=1)
    grads = []
    for fn in (ciou_loss, tv_ciou_loss):
        x = p.clone().requires_grad_(True)
        fn(x, t).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-9)
    x = p.clone().requires_grad_(True)
    diou, iou = tv_diou_iou_loss(x, t)
    w, h = x[:, 2] - x[:, 0], x[:, 3] - x[:, 1]
    wt, ht = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    v = 4 / math.pi**2 * (torch.atan(wt / ht) - torch.atan(w / h))**2
    (diou + v / (1 - iou + v) * v).sum().backward()
    assert not torch.allclose(grads[0], x.grad, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize('dtype',
                         [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('name', list(LOSSES))
def test_gradients_stay_bounded_for_degenerate_predictions(name, dtype):
    # a point, a zero-width and a zero-height box against a real box, on
    # and off its centre: every gradient finite and of the order of
    # 1 / (target size), not 1 / eps
    target = torch.tensor([[10., 10., 30., 50.]] * 6)
    pred = torch.tensor([[20., 30., 20., 30.], [5., 5., 5., 5.],
                         [20., 20., 20., 40.], [12., 30., 25., 30.],
                         [40., 40., 40., 60.], [0., 0., 0., 0.]])
    x = pred.to(dtype).requires_grad_(True)
    loss = LOSSES[name](x, target.to(dtype))
    loss.sum().backward()
    grad = x.grad.float()
    assert torch.isfinite(loss.float()).all()
    assert torch.isfinite(grad).all(), grad
    # target diagonal ~45: natural scale 1/45; the aspect-gradient floor
    # allows 1 / (0.1 * 45) ~ 0.22
    assert grad.abs().max() < 1.0, grad


def test_aspect_gradient_is_exact_above_the_floor():
    # boxes larger than the floor: gradient of the plain formula
    from mmdet_lossplus.functional.iou_losses import ASPECT_GRAD_FLOOR
    p, t = random_pairs(200, seed=4)
    diag_ratio = ((p[:, 2:] - p[:, :2]).norm(dim=1) /
                  (t[:, 2:] - t[:, :2]).norm(dim=1))
    assert diag_ratio.min() > ASPECT_GRAD_FLOOR
    grads = []
    for fn in (ciou_loss, tv_ciou_loss):
        x = p.clone().requires_grad_(True)
        fn(x, t).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-9)


# ---- agreement with mmdet and with torchvision's formulas --------------


@pytest.mark.parametrize(
    'name',
    ['giou', 'diou', 'ciou_gated', 'iou_linear', 'iou_square', 'iou_log'])
def test_equals_mmdet_values_and_gradients(name):
    pred, target = random_pairs(300, seed=2)
    ours_fn = {
        'giou': lambda p, t: giou_loss(p, t, 1e-6),
        'diou': lambda p, t: diou_loss(p, t, 1e-6),
        'ciou_gated': lambda p, t: ciou_loss(p, t, 1e-6, 'gated'),
        'iou_linear': lambda p, t: iou_loss(p, t, 'linear', 1e-6),
        'iou_square': lambda p, t: iou_loss(p, t, 'square', 1e-6),
        'iou_log': lambda p, t: iou_loss(p, t, 'log', 1e-6),
    }[name]
    theirs_fn = {
        'giou':
        lambda p, t: mmdet_giou(p, t, eps=1e-6, reduction='none'),
        'diou':
        lambda p, t: mmdet_diou(p, t, eps=1e-6, reduction='none'),
        'ciou_gated':
        lambda p, t: mmdet_ciou(p, t, eps=1e-6, reduction='none'),
        'iou_linear':
        lambda p, t: mmdet_iou(
            p, t, mode='linear', eps=1e-6, reduction='none'),
        'iou_square':
        lambda p, t: mmdet_iou(
            p, t, mode='square', eps=1e-6, reduction='none'),
        'iou_log':
        lambda p, t: mmdet_iou(p, t, mode='log', eps=1e-6, reduction='none'),
    }[name]
    results = []
    for fn in (ours_fn, theirs_fn):
        p = pred.clone().requires_grad_(True)
        loss = fn(p, target)
        loss.sum().backward()
        results.append((loss.detach(), p.grad))
    (l1, g1), (l2, g2) = results
    # the eps sit in slightly different places: agreement to ~eps/area
    assert torch.allclose(l1, l2, rtol=1e-6, atol=1e-8)
    assert torch.allclose(g1, g2, rtol=1e-5, atol=1e-8)
    # the gated case must really exercise both sides of IoU = 0.5
    iou = box_pair_terms(pred, target).iou
    assert (iou > 0.5).sum() > 20 and (iou <= 0.5).sum() > 20


@pytest.mark.parametrize('name', ['giou', 'diou', 'ciou'])
def test_paper_mode_equals_torchvision_formulas(name):
    pred, target = random_pairs(300, seed=3)
    ours = {'giou': giou_loss, 'diou': diou_loss, 'ciou': ciou_loss}[name]
    ref = {
        'giou': tv_giou_loss,
        'diou': lambda p, t: tv_diou_iou_loss(p, t)[0],
        'ciou': tv_ciou_loss
    }[name]
    results = []
    for fn in (ours, ref):
        p = pred.clone().requires_grad_(True)
        loss = fn(p, target)
        loss.sum().backward()
        results.append((loss.detach(), p.grad))
    (l1, g1), (l2, g2) = results
    assert torch.allclose(l1, l2, rtol=1e-7, atol=1e-9)
    assert torch.allclose(g1, g2, rtol=1e-6, atol=1e-9)


def test_gated_and_paper_alpha_differ_only_below_half_iou():
    pred, target = random_pairs(300, seed=4)
    paper, gated = ciou_loss(pred, target), ciou_loss(
        pred, target, alpha='gated')
    high = box_pair_terms(pred, target).iou > 0.5
    assert torch.equal(paper[high], gated[high])
    assert (paper[~high] > gated[~high]).float().mean() > 0.9


# ---- robustness ---------------------------------------------------------

DEGENERATE = {
    'identical': ([0., 0., 10., 10.], [0., 0., 10., 10.]),
    'zero_width_pred': ([5., 0., 5., 10.], [0., 0., 10., 10.]),
    'zero_height_target': ([0., 0., 10., 10.], [0., 5., 10., 5.]),
    'both_points_equal': ([3., 3., 3., 3.], [3., 3., 3., 3.]),
    'points_apart': ([3., 3., 3., 3.], [9., 1., 9., 1.]),
    'far_apart': ([0., 0., 1., 1.], [1e4, 1e4, 1e4 + 2., 1e4 + 3.]),
    'inside': ([4., 4., 6., 6.], [0., 0., 10., 10.]),
    'inverted_pred': ([10., 10., 0., 0.], [0., 0., 10., 10.]),
    'huge_coordinates': ([1e6, 1e6, 1e6 + 50.,
                          1e6 + 20.], [1e6 + 5., 1e6, 1e6 + 45., 1e6 + 30.]),
}


@pytest.mark.parametrize('dtype',
                         [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('name', list(LOSSES) + ['iou_log'])
def test_degenerate_boxes_give_finite_loss_and_gradient(name, dtype):
    fn = LOSSES.get(name, lambda p, t: iou_loss(p, t, 'log'))
    cases = dict(DEGENERATE)
    if dtype == torch.float16:  # 1e6 does not fit in float16
        cases['huge_coordinates'] = ([6e4, 6e4, 6.5e4,
                                      6.2e4], [6.1e4, 6e4, 6.5e4, 6.3e4])
    pred = torch.tensor([c[0] for c in cases.values()], dtype=dtype)
    target = torch.tensor([c[1] for c in cases.values()], dtype=dtype)
    pred.requires_grad_(True)
    loss = fn(pred, target)
    assert loss.dtype == dtype
    loss.sum().backward()
    assert torch.isfinite(loss).all(), dict(zip(cases, loss.tolist()))
    assert torch.isfinite(pred.grad).all(), dict(
        zip(cases, pred.grad.tolist()))


def test_half_inputs_are_computed_in_float32():
    pred, target = random_pairs(200, seed=5, dtype=torch.float32)
    for name, fn in LOSSES.items():
        for dtype in (torch.float16, torch.bfloat16):
            half = fn(pred.to(dtype), target.to(dtype))
            # only the rounding of inputs and output, not of the maths
            ref = fn(pred.to(dtype).float(), target.to(dtype).float())
            assert torch.equal(half, ref.to(dtype)), (name, dtype)


def test_mmdet_ciou_is_nan_in_half_precision_where_ours_is_not():
    # The known failure this package fixes: identical fp16 boxes.
    b = torch.tensor([[10., 10., 30., 40.]], dtype=torch.float16)
    assert torch.isnan(mmdet_ciou(b, b, reduction='none')).all()
    assert ciou_loss(b, b).item() == pytest.approx(0.0, abs=1e-3)


def test_inverted_prediction_still_gets_a_centre_gradient():
    p = torch.tensor([[30., 30., 20., 20.]], requires_grad=True)
    t = torch.tensor([[0., 0., 10., 10.]])
    loss = diou_loss(p, t)
    # centres 20*sqrt(2) apart, enclosing extent [0, 30]^2
    assert loss.item() == pytest.approx(1 + 800 / 1800)
    loss.sum().backward()
    # translating the (inverted) box towards the target lowers the loss
    assert p.grad.sum() > 0


def test_empty_input():
    p = torch.zeros(0, 4, requires_grad=True)
    for fn in LOSSES.values():
        out = fn(p, torch.zeros(0, 4))
        assert out.shape == (0, )


# ---- errors -------------------------------------------------------------


def test_errors_name_the_argument():
    b = torch.zeros(3, 4)
    with pytest.raises(ValueError, match='pred must have last dimension 4'):
        giou_loss(torch.zeros(3, 5), torch.zeros(3, 5))
    with pytest.raises(ValueError, match='target must have last dimension'):
        diou_loss(b, torch.zeros(3, 3))
    with pytest.raises(ValueError, match='must equal target shape'):
        ciou_loss(b, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        iou_loss(b, b, mode='cubic')
    with pytest.raises(ValueError, match="alpha must be one of"):
        ciou_loss(b, b, alpha='mmdet')
    with pytest.raises(TypeError, match='floating-point'):
        giou_loss(b.long(), b.long())
