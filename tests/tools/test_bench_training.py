"""tools/benchmarks/bench_training.py: the loss timer leaves values and
gradients unchanged and its intervals contain the loss's own work; a short
real training gives per-iteration records whose loss time lies inside the
iteration; the table's ratios are per round against the same detector's
baseline."""
import os.path as osp
import time

import pytest
import torch
from conftest import ROOT, load_tool


def _tool():
    return load_tool('benchmarks', 'bench_training.py')


tool = _tool()


class _SlowSquare(torch.autograd.Function):
    """x^2 whose forward and backward note when they ran."""
    spans = {}

    @staticmethod
    def forward(ctx, x):
        start = time.perf_counter()
        time.sleep(0.01)
        ctx.save_for_backward(x)
        _SlowSquare.spans['forward'] = (start, time.perf_counter())
        return x * x

    @staticmethod
    def backward(ctx, grad):
        start = time.perf_counter()
        time.sleep(0.01)
        (x, ) = ctx.saved_tensors
        _SlowSquare.spans['backward'] = (start, time.perf_counter())
        return 2 * x * grad


class _ToyLoss(torch.nn.Module):

    def forward(self, pred, target, weight=None):
        return (_SlowSquare.apply(pred - target) * weight).sum(), pred.sum()


def test_the_timer_is_an_identity_and_contains_the_loss_work():
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 2)
    x, target = torch.randn(4, 3), torch.randn(4, 2)
    weight = torch.rand(4, 2)
    loss = _ToyLoss()

    def step():
        head.zero_grad()
        value, extra = loss(head(x), target, weight=weight)
        (value + 3 * extra).backward()
        return value.detach(), head.weight.grad.clone()

    plain = step()
    timer = tool.LossTimer()
    timer.attach([loss])
    timer.reset()
    timed = step()
    timer.detach()
    assert torch.equal(plain[0], timed[0])
    assert torch.equal(plain[1], timed[1])
    fwd, bwd = _SlowSquare.spans['forward'], _SlowSquare.spans['backward']
    assert timer.forward_s >= fwd[1] - fwd[0]
    assert timer.backward_s >= bwd[1] - bwd[0]
    # detached: nothing is timed any more
    timer.reset()
    step()
    assert timer.forward_s == 0.0 and timer.backward_s == 0.0


def test_a_short_training_records_the_timed_iterations(tmp_path, tiny_data):
    config = osp.join(ROOT, 'configs/atss/atss_r18_fpn_aploss_demo.py')
    records = tool.train_timed(config, 3, 1, tiny_data, 'none',
                               str(tmp_path / 'w'))
    assert len(records) == 2
    for r in records:
        assert 0 < r['loss_forward_s'] and 0 < r['loss_backward_s']
        assert r['loss_forward_s'] + r['loss_backward_s'] < r['iteration_s']


def test_ratios_are_taken_within_each_round():
    base = 'configs/atss/atss_r18_fpn_demo.py'
    other = 'configs/atss/atss_r18_fpn_aploss_demo.py'

    def summary(it):
        return dict(iteration_s=it, loss_s=0.01, loss_share=0.05)

    rounds = [{
        base: summary(1.0),
        other: summary(1.5)
    }, {
        base: summary(2.0),
        other: summary(2.2)
    }, {
        base: summary(1.0),
        other: summary(1.2)
    }]
    text = tool.table(rounds, 1, [other, base])
    row = text.splitlines()[2]
    # per-round ratios 1.5, 1.1, 1.2: median 1.2, not 1.5 / 1.0 of medians
    assert '| 1.500 | 1.20x (1.10-1.50) | 10.0 | 5.0 % |' in row
    assert '1 (baseline)' in text.splitlines()[3]


def test_arguments_are_checked():
    with pytest.raises(SystemExit):
        tool.main(['--rounds', '0'])
    with pytest.raises(SystemExit):
        tool.main(['--iters', '5', '--warmup', '5'])
    with pytest.raises(SystemExit):
        tool.main(['--configs', 'configs/none.py'])
