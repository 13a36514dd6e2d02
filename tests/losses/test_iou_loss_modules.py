import pytest
import torch
from mmdet.models.losses import CIoULoss as MMDetCIoU
from mmdet.models.losses import DIoULoss as MMDetDIoU
from mmdet.models.losses import GIoULoss as MMDetGIoU
from mmdet.models.losses import IoULoss as MMDetIoU

from mmdet_lossplus.losses import CIoULoss, DIoULoss, GIoULoss, IoULoss
from mmdet_lossplus.registry import MODELS

PAIRS = [
    (lambda: GIoULoss(loss_weight=2.0), lambda: MMDetGIoU(loss_weight=2.0)),
    (lambda: DIoULoss(loss_weight=2.0), lambda: MMDetDIoU(loss_weight=2.0)),
    (lambda: CIoULoss(alpha='gated', loss_weight=2.0),
     lambda: MMDetCIoU(loss_weight=2.0)),
    (lambda: IoULoss(mode='linear'), lambda: MMDetIoU(mode='linear')),
    (lambda: IoULoss(), lambda: MMDetIoU()),
]


def boxes(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(n, 2, generator=g) * 100
    s = torch.rand(n, 2, generator=g) * 40 + 4
    target = torch.cat([c - s / 2, c + s / 2], 1)
    pc = c + torch.randn(n, 2, generator=g) * s * 0.3
    ps = s * torch.exp(0.3 * torch.randn(n, 2, generator=g))
    return torch.cat([pc - ps / 2, pc + ps / 2], 1), target


@pytest.mark.parametrize('pair', range(len(PAIRS)))
@pytest.mark.parametrize('weight_kind', ['none', 'row', 'box'])
@pytest.mark.parametrize('reduction,avg_factor',
                         [('mean', None), ('mean', 37.0), ('sum', None),
                          ('none', None)])
def test_module_equals_mmdet(pair, weight_kind, reduction, avg_factor):
    pred, target = boxes(120, seed=pair)
    g = torch.Generator().manual_seed(7)
    weight = {
        'none':
        None,
        'row': (torch.rand(120, generator=g) > 0.3).float(),
        'box': (torch.rand(120, 1, generator=g)
                > 0.3).float().expand(120, 4).contiguous(),
    }[weight_kind]
    out = []
    for make in PAIRS[pair]:
        p = pred.clone().requires_grad_(True)
        loss = make()(
            p,
            target,
            weight,
            avg_factor=avg_factor,
            reduction_override=reduction)
        loss.sum().backward()
        out.append((loss.detach(), p.grad))
    (l1, g1), (l2, g2) = out
    assert torch.allclose(l1, l2, rtol=1e-5, atol=1e-7)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-7)


def test_built_from_config_with_scope():
    loss = MODELS.build(
        dict(type='mmdet_lossplus.CIoULoss', alpha='gated', loss_weight=3.))
    assert isinstance(loss, CIoULoss)
    assert loss.alpha == 'gated' and loss.loss_weight == 3.0


def test_all_zero_weight_gives_connected_zero():
    pred, target = boxes(5)
    pred.requires_grad_(True)
    loss = DIoULoss()(pred, target, torch.zeros(5))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_empty_input_gives_connected_zero():
    pred = torch.zeros(0, 4, requires_grad=True)
    for cls in (IoULoss, GIoULoss, DIoULoss, CIoULoss):
        loss = cls()(pred, torch.zeros(0, 4), avg_factor=0.0)
        assert loss.item() == 0.0
        loss.backward()
        none = cls()(pred, torch.zeros(0, 4), reduction_override='none')
        assert none.shape == (0, )


def test_half_precision_pred():
    pred, target = boxes(50)
    for cls in (GIoULoss, DIoULoss, CIoULoss):
        ref = cls()(pred, target)
        half = cls()(pred.half(), target.half())
        assert half.dtype == torch.float16
        assert abs(half.item() - ref.item()) < 1e-2


def test_bad_configuration_and_inputs():
    with pytest.raises(ValueError, match='eps must be'):
        GIoULoss(eps=0)
    with pytest.raises(ValueError, match='reduction must be one of'):
        DIoULoss(reduction='avg')
    with pytest.raises(ValueError, match='mode must be one of'):
        IoULoss(mode='cube')
    with pytest.raises(ValueError, match='alpha must be one of'):
        CIoULoss(alpha=0.5)
    with pytest.raises(ValueError, match='loss_weight'):
        CIoULoss(loss_weight=float('nan'))
    pred, target = boxes(4)
    with pytest.raises(ValueError, match='weight must have shape'):
        GIoULoss()(pred, target, torch.ones(3))
    with pytest.raises(ValueError, match='last dimension 4'):
        GIoULoss()(pred[:, :3], target[:, :3])
    with pytest.raises(ValueError, match='reduction_override'):
        GIoULoss()(pred, target, reduction_override='avg')
