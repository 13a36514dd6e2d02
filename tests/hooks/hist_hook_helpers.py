"""A minimal runner and detector for driving GradientHistogramHook without
a full training loop (shared by the unit and the distributed tests)."""
from types import SimpleNamespace

import torch
from mmdet.models.losses import FocalLoss, L1Loss
from mmengine.logging import MessageHub
from torch import nn

from mmdet_lossplus.losses import GHMC, GHMR


class TinyDetector(nn.Module):

    def __init__(self, ghm=False):
        super().__init__()
        head = nn.Module()
        head.conv = nn.Linear(2, 2)
        if ghm:
            head.loss_cls = GHMC(bins=30, momentum=0.75)
            head.loss_bbox = GHMR(mu=0.02, bins=10, momentum=0.7)
        else:
            head.loss_cls = FocalLoss(use_sigmoid=True)
            head.loss_bbox = L1Loss()
        self.bbox_head = head


def fake_runner(model, work_dir, it=0, name='hist_test'):
    return SimpleNamespace(
        model=model,
        iter=it,
        work_dir=str(work_dir),
        message_hub=MessageHub.get_instance(name),
        visualizer=None,
        logger=SimpleNamespace(info=lambda *a, **k: None))


def batch(seed, n=300, classes=5, reg_rows=80, no_positives=False):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, classes, generator=g) * 3
    target = torch.randint(0, classes + 1, (n, ), generator=g)
    weight = (torch.rand(n, generator=g) > 0.2).float()
    reg_pred = torch.randn(reg_rows, 4, generator=g) * 0.1
    reg_target = torch.randn(reg_rows, 4, generator=g) * 0.1
    reg_weight = (torch.rand(reg_rows, 1, generator=g)
                  > 0.3).float().expand(reg_rows, 4).contiguous()
    if no_positives:
        target[:] = classes
        reg_weight = torch.zeros_like(reg_weight)
    return pred, target, weight, reg_pred, reg_target, reg_weight
