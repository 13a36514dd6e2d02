import json
import math
import os.path as osp

import pytest
import torch
from hist_hook_helpers import TinyDetector, batch, fake_runner

from mmdet_lossplus.hooks import (GradientHistogramHook, cls_gradient_counts,
                                  reg_gradient_counts)
from mmdet_lossplus.losses import GHMC, GHMR


def test_cls_counts_by_hand():
    # logits with known sigmoids, class-index targets (background = 2)
    p = torch.tensor([[0.05, 0.95], [0.5, 0.2], [0.31, 0.72]])
    x = torch.log(p / (1 - p))
    target = torch.tensor([1, 2, 0])
    # g: row 0 (class 1): 0.05, 0.05; row 1 (bg): 0.5, 0.2;
    # row 2 (class 0): 0.69, 0.72 -- row 1 ignored by its weight
    counts = cls_gradient_counts(x, target, torch.tensor([1., 0., 1.]), 10)
    want = torch.zeros(10, dtype=torch.float64)
    want[0] += 2
    want[6] += 1
    want[7] += 1
    assert torch.equal(counts, want)


def test_reg_counts_by_hand():
    mu = 0.02

    def d_for(g):  # inverse of g = |d| / sqrt(d^2 + mu^2)
        return mu * g / math.sqrt(1 - g * g)

    d = torch.tensor([[d_for(0.65), -d_for(0.65), d_for(0.85), 0.0]])
    counts = reg_gradient_counts(d, torch.zeros_like(d),
                                 torch.tensor([[1., 1., 1., 0.]]), 10, mu)
    want = torch.zeros(10, dtype=torch.float64)
    want[6] = 2
    want[8] = 1
    assert torch.equal(counts, want)


def test_counts_equal_the_ghm_losses_own_histograms():
    pred, target, weight, rp, rt, rw = batch(0)
    ghmc, ghmr = GHMC(bins=30), GHMR(bins=10, mu=0.02)
    ghmc(pred, target, weight)
    ghmr(rp, rt, rw)
    assert torch.equal(
        cls_gradient_counts(pred, target, weight, 30), ghmc.last_counts)
    assert torch.equal(
        reg_gradient_counts(rp, rt, rw, 10, 0.02), ghmr.last_counts)


@pytest.mark.parametrize('ghm', [False, True])
def test_hook_logs_global_shares_and_plots(ghm, tmp_path):
    model = TinyDetector(ghm=ghm)
    hook = GradientHistogramHook(
        interval=2, bins=30, easy_thr=0.1, outlier_thr=0.9)
    runner = fake_runner(model, tmp_path, name=f'hist_{ghm}')
    hook.before_run(runner)
    head = model.bbox_head
    # iteration 0 is not logged (interval 2): the pre-hook must not count
    runner.iter = 0
    hook.before_train_iter(runner, 0)
    pred, target, weight, rp, rt, rw = batch(1)
    head.loss_cls(pred, target, weight, avg_factor=10.0)
    hook.after_train_iter(runner, 0)
    assert hook.history == [] and hook._acc == {}
    # iteration 1 is logged; two calls as mmdet makes per FPN level
    runner.iter = 1
    hook.before_train_iter(runner, 1)
    if ghm:  # GHM sees everything in one call (our head)
        head.loss_cls(pred, target, weight)
        head.loss_bbox(rp, rt, rw)
    else:
        for rows in (slice(0, 100), slice(100, None)):
            head.loss_cls(
                pred[rows], target[rows], weight[rows], avg_factor=10.0)
            head.loss_bbox(rp[rows], rt[rows], rw[rows], avg_factor=10.0)
    hook.after_train_iter(runner, 1)
    assert len(hook.history) == 1 and hook.history[0]['iter'] == 2
    cls = cls_gradient_counts(pred, target, weight, 30)
    reg = reg_gradient_counts(rp, rt, rw, 10 if ghm else 30, 0.02)
    assert torch.equal(hook.history[0]['cls'], cls)
    assert torch.equal(hook.history[0]['reg'], reg)
    hub = runner.message_hub
    m = cls.numel()
    easy = cls[:3].sum() / cls.sum()
    outlier = cls[27:].sum() / cls.sum()
    assert hub.get_scalar('train/grad_hist/cls_easy').current() == \
        pytest.approx(float(easy))
    assert hub.get_scalar('train/grad_hist/cls_outlier').current() == \
        pytest.approx(float(outlier))
    assert hub.get_scalar('train/grad_hist/cls_count').current() == \
        float(cls.sum())
    assert m == 30 and 0 < easy < 1
    # measured on iteration 2 only: gone before iteration 3 is logged
    runner.iter = 2
    hook.before_train_iter(runner, 2)
    assert not [k for k in hub.log_scalars if 'grad_hist' in k]
    hook.after_run(runner)
    assert osp.getsize(osp.join(str(tmp_path),
                                'gradient_histograms.png')) > 5000
    assert not head.loss_cls._forward_pre_hooks  # removed at the end
    with open(osp.join(str(tmp_path), 'gradient_histograms.json')) as f:
        saved = json.load(f)
    assert saved[0]['iter'] == 2 and saved[0]['cls'] == cls.tolist()


@pytest.mark.parametrize('kwargs,error', [
    (dict(interval=0), ValueError),
    (dict(bins=1.0), TypeError),
    (dict(mu=0.0), ValueError),
    (dict(mu=-1.0), ValueError),
    (dict(easy_thr=0.95, outlier_thr=0.9), ValueError),
    (dict(outlier_thr=1.0), ValueError),
    (dict(max_curves=0), ValueError),
    (dict(max_curves=None), TypeError),
    (dict(out_file=''), TypeError),
])
def test_bad_arguments_fail_at_construction(kwargs, error):
    with pytest.raises(error, match=list(kwargs)[0]):
        GradientHistogramHook(**kwargs)


def test_missing_head():
    hook = GradientHistogramHook(head='roi_head')
    with pytest.raises(ValueError, match="no 'roi_head'"):
        hook.before_run(fake_runner(TinyDetector(), '/tmp'))


def test_tensorboard_histograms_are_written_when_the_backend_is_on(tmp_path):
    # the real backend: mmengine's TensorboardVisBackend, events read back
    # with TensorBoard's own reader
    from mmengine.visualization import Visualizer
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator

    model = TinyDetector()
    hook = GradientHistogramHook(interval=1, bins=10)
    runner = fake_runner(model, tmp_path, name='hist_tb')
    runner.visualizer = Visualizer(
        name='hist_tb_vis',
        vis_backends=[dict(type='TensorboardVisBackend')],
        save_dir=str(tmp_path / 'vis'))
    hook.before_run(runner)
    pred, target, weight, rp, rt, rw = batch(3)
    for it in (0, 1):
        runner.iter = it
        hook.before_train_iter(runner, it)
        model.bbox_head.loss_cls(pred, target, weight, avg_factor=1.0)
        model.bbox_head.loss_bbox(rp, rt, rw, avg_factor=1.0)
        hook.after_train_iter(runner, it)
    runner.visualizer.close()
    events = EventAccumulator(
        str(tmp_path / 'vis' / 'vis_data'), size_guidance={'histograms': 0})
    events.Reload()
    assert set(
        events.Tags()['histograms']) == {'grad_hist/cls', 'grad_hist/reg'}
    cls = cls_gradient_counts(pred, target, weight, 10)
    written = events.Histograms('grad_hist/cls')
    assert [e.step for e in written] == [1, 2]
    value = written[-1].histogram_value
    assert list(value.bucket) == cls.tolist()
    assert value.num == int(cls.sum())
    assert list(value.bucket_limit) == pytest.approx([(i + 1) / 10
                                                      for i in range(10)])
