import pytest
import torch
from torch import nn

from mmdet_lossplus.hooks import LossStateCheckHook
from mmdet_lossplus.hooks.loss_state_check import stateful_losses
from mmdet_lossplus.losses import GHMC, GHMR


def test_finds_the_stateful_losses_and_is_silent_in_one_process():
    model = nn.Module()
    model.head = nn.Module()
    model.head.loss_cls = GHMC(bins=10, momentum=0.75)
    model.head.loss_bbox = GHMR(bins=5, momentum=0.7)
    model.head.conv = nn.Conv2d(1, 1, 1)
    names = [n for n, _ in stateful_losses(model)]
    assert names == ['head.loss_cls', 'head.loss_bbox']
    v = model.head.loss_cls.state_vector()
    assert v.shape == (20, ) and v.dtype == torch.float64
    assert LossStateCheckHook(interval=1).check(model, 1) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match='interval'):
        LossStateCheckHook(interval=0)
    with pytest.raises(ValueError, match='atol'):
        LossStateCheckHook(atol=-1.0)


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -1.0])
def test_corrupted_state_fails_in_one_process_too(value):
    model = nn.Module()
    model.loss_cls = GHMC(bins=10, momentum=0.75)
    model.loss_cls.ema_steps[2] = value
    with pytest.raises(RuntimeError, match='corrupted at iteration 7'):
        LossStateCheckHook(interval=1).check(model, 7)


def test_bad_argument_types():
    with pytest.raises(TypeError, match='interval'):
        LossStateCheckHook(interval=2.0)
    with pytest.raises(ValueError, match='atol'):
        LossStateCheckHook(atol=float('nan'))


def _ghmc_call(loss):
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(50, 4, generator=g)
    target = torch.randint(0, 5, (50, ), generator=g)
    return loss(pred, target, torch.ones(50))


def test_deferred_checks_without_the_hook_warn_once(monkeypatch):
    """On accelerators GHM-C defers its input checks to the hook: a run
    without it is told so once, at the first call; a run with it (marked
    before training) and the CPU path (which raises at the call) are not."""
    import warnings
    from types import SimpleNamespace

    from mmdet_lossplus.functional import torch_compat
    monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', True)
    loss = GHMC(bins=10)
    with pytest.warns(UserWarning, match='GHMC: .*LossStateCheckHook'):
        _ghmc_call(loss)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        _ghmc_call(loss)  # once per loss
        model = nn.Module()
        model.loss_cls = GHMC(bins=10)
        LossStateCheckHook().before_train(SimpleNamespace(model=model))
        _ghmc_call(model.loss_cls)
        monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', False)
        _ghmc_call(GHMC(bins=10))
