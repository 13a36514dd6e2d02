"""SkippedStepRollbackHook: a step the loss scaler skips leaves GHM's EMA
and aLRP's running sums and weight as they were; a step it takes keeps
the update. With torch's GradScaler on CPU (torch >= 2.3) and, on every
torch, with a scaler that records its verdict the way GradScaler does."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from torch import nn

from mmdet_lossplus.functional.torch_compat import TORCH_VERSION
from mmdet_lossplus.hooks import SkippedStepRollbackHook
from mmdet_lossplus.losses import GHMC, aLRPLoss


class RecordingScaler:
    """What the hook reads of a GradScaler: the per-optimizer record of
    non-finite gradients, cleared by ``update``; skips on a non-finite
    gradient, scale 1."""

    def __init__(self):
        self._per_optimizer_states = {}

    def scale(self, loss):
        return loss

    def step(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g['params']]
        found = torch.stack([(~torch.isfinite(g)).any() for g in grads]).any()
        self._per_optimizer_states[id(optimizer)] = {
            'found_inf_per_device': {
                'cpu': found.float()
            }
        }
        if not found:
            optimizer.step()

    def update(self, new_scale=None):
        self._per_optimizer_states = {}


def _scaler(kind):
    if kind == 'recording':
        return RecordingScaler()
    if TORCH_VERSION < (2, 3):
        pytest.skip('torch.amp.GradScaler on CPU needs torch >= 2.3 (the '
                    'recording scaler covers this torch)')
    return torch.amp.GradScaler('cpu', init_scale=2.0**4)


class Model(nn.Module):

    def __init__(self, loss):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(6, 5)
        self.loss = loss

    def forward(self, x, target):
        pred = self.fc(x)
        if isinstance(self.loss, aLRPLoss):
            n_pos = int((target < 5).sum())
            out = self.loss(pred, target, loc_errors=torch.rand(n_pos))
            return sum(out)
        return self.loss(pred, target)


def _iteration(hook, runner, overflow):
    model, scaler = runner.model, runner.optim_wrapper.loss_scaler
    hook.before_train_iter(runner, 0)
    g = torch.Generator().manual_seed(runner.iter)
    x = torch.randn(40, 6, generator=g)
    target = torch.randint(0, 6, (40, ), generator=g)
    target[:3] = torch.tensor([0, 1, 2])  # positives in every batch
    runner.optimizer.zero_grad()
    scaler.scale(model(x, target)).backward()
    if overflow:
        model.fc.weight.grad[0, 0] = float('inf')
    scaler.step(runner.optimizer)
    scaler.update()
    hook.after_train_iter(runner, 0)
    runner.iter += 1


def _runner(loss, scaler):
    model = Model(loss)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return SimpleNamespace(
        model=model,
        optimizer=optimizer,
        optim_wrapper=SimpleNamespace(loss_scaler=scaler),
        logger=MMLogger.get_instance('test_skipped_steps'),
        iter=0)


@pytest.mark.parametrize('kind', ['recording', 'torch'])
@pytest.mark.parametrize('loss', ['ghmc', 'alrp'])
def test_a_skipped_step_restores_the_state_and_a_taken_one_keeps_it(
        kind, loss):
    loss = GHMC(bins=10, momentum=0.75) if loss == 'ghmc' else \
        aLRPLoss(sb_interval=2)
    runner, hook = _runner(loss, _scaler(kind)), SkippedStepRollbackHook()
    initial = loss.state_vector().clone()
    _iteration(hook, runner, overflow=False)
    first = loss.state_vector().clone()
    assert not torch.equal(first, initial)  # the taken step updated it
    weight = runner.model.fc.weight.detach().clone()
    _iteration(hook, runner, overflow=True)  # completes aLRP's interval
    torch.testing.assert_close(loss.state_vector(), first, atol=0, rtol=0)
    torch.testing.assert_close(runner.model.fc.weight, weight, atol=0, rtol=0)
    _iteration(hook, runner, overflow=False)
    assert not torch.equal(loss.state_vector(), first)
    assert not torch.equal(runner.model.fc.weight, weight)


def test_without_a_scaler_nothing_is_snapshot_or_restored():
    loss = GHMC(bins=10, momentum=0.75)
    runner, hook = _runner(loss, None), SkippedStepRollbackHook()
    runner.optim_wrapper = SimpleNamespace()  # fp32: no loss_scaler
    runner.optim_wrapper.loss_scaler = None
    hook.before_train_iter(runner, 0)
    assert hook._snapshots == [] and hook._recorders == []
    hook.after_train_iter(runner, 0)
