"""mmdet_lossplus.hooks.loss_inputs: the arguments of an mmdet loss call,
however they are passed, and recording them without changing the loss."""
import pytest
import torch
from torch import nn

from mmdet_lossplus.hooks import loss_call_args, recording_loss_inputs


class _Loss(nn.Module):

    def forward(self, pred, target, weight=None, label_weight=None, **kw):
        w = weight if weight is not None else label_weight
        return (pred * (1 if w is None else w)).sum() + 0 * target.sum()


def test_loss_call_args_positional_keyword_and_quality_targets():
    pred, labels, w = torch.ones(3), torch.tensor([0, 1, 2]), torch.ones(3)
    assert loss_call_args((pred, labels, w), {})[2] is w
    assert loss_call_args((pred, labels), dict(weight=w))[2] is w
    assert loss_call_args((pred, labels), dict(label_weight=w))[2] is w
    assert loss_call_args((pred, labels), {})[2] is None
    scores = torch.rand(3)
    got = loss_call_args((pred, (labels, scores)), {})
    assert got[0] is pred and got[1] is labels


def test_recording_sees_every_call_inside_the_block_only():
    loss, seen = _Loss(), []
    pred = torch.tensor([1.0, 2.0])
    target = torch.tensor([0, 1])
    with recording_loss_inputs(loss, lambda *a: seen.append(a)):
        out = loss(pred, target, label_weight=torch.tensor([2.0, 0.0]))
        loss(pred, target)
    assert out.item() == 2.0  # the loss ran unchanged
    assert len(seen) == 2
    assert torch.equal(seen[0][2], torch.tensor([2.0, 0.0]))
    assert seen[1][2] is None
    loss(pred, target)
    assert len(seen) == 2  # the hook is gone after the block


def test_recording_hook_is_removed_when_the_block_raises():
    loss, seen = _Loss(), []
    with pytest.raises(RuntimeError):
        with recording_loss_inputs(loss, lambda *a: seen.append(a)):
            raise RuntimeError('boom')
    loss(torch.ones(1), torch.zeros(1))
    assert seen == [] and not loss._forward_pre_hooks


def test_raw_recording_hands_the_call_unparsed():
    loss, seen = _Loss(), []
    pred, target = torch.ones(2), (torch.tensor([0, 1]), torch.rand(2))
    with recording_loss_inputs(
            loss, lambda a, k: seen.append((a, k)), raw=True):
        loss(pred, target[0], avg_factor=3)
    (args, kwargs), = seen
    assert args[0] is pred and args[1] is target[0]
    assert kwargs == dict(avg_factor=3)
