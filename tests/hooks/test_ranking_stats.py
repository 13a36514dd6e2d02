import os.path as osp

import pytest
import torch
from hist_hook_helpers import fake_runner
from torch import nn

from mmdet_lossplus.hooks import RankingStatsHook, batch_ap
from mmdet_lossplus.losses import APLoss
from mmdet_lossplus.losses.targets import ranking_labels


def test_batch_ap_of_perfect_and_reversed_rankings():
    labels = torch.tensor([1, 1, 0, 0, 0, -1], dtype=torch.int8)
    perfect = torch.tensor([10., 9., -10., -11., -12., 50.])
    assert batch_ap(perfect, labels, 1.0, False).item() == pytest.approx(1.0)
    # reversed: positives ranked 4th and 5th of 5 (the ignored entry does
    # not count): precisions 1/4 and 2/5, interpolated AP = (0.4 + 0.4) / 2
    reversed_ = -perfect
    reversed_[5] = 50.
    assert batch_ap(reversed_, labels, 1e-3, False).item() == pytest.approx(
        0.4, abs=1e-6)


def test_batch_ap_is_one_minus_ap_loss():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(50, 3, generator=g)
    target = torch.randint(0, 4, (50, ), generator=g)
    loss = APLoss(mode='local')(pred, target)
    ap = batch_ap(pred, ranking_labels(pred, target, None), 1.0, False)
    assert ap.item() == pytest.approx(1 - loss.item(), abs=1e-6)


def test_hook_in_one_process(tmp_path):
    model = nn.Module()
    model.bbox_head = nn.Module()
    model.bbox_head.conv = nn.Linear(1, 1)
    model.bbox_head.loss_cls = APLoss()
    hook = RankingStatsHook(interval=1)
    runner = fake_runner(model, tmp_path, name='ranking_one')
    hook.before_run(runner)
    g = torch.Generator().manual_seed(1)
    for it in range(3):
        runner.iter = it
        hook.before_train_iter(runner, it)
        pred = torch.randn(40, 4, generator=g)
        target = torch.randint(0, 5, (40, ), generator=g)
        loss = model.bbox_head.loss_cls(pred, target)
        hook.after_train_iter(runner, it)
        h = hook.history[-1]
        assert h['global_ap'] == pytest.approx(1 - loss.item(), abs=1e-6)
        assert h['local_ap_min'] == pytest.approx(h['global_ap'], abs=1e-6)
        assert h['ap_gap'] == pytest.approx(0.0, abs=1e-6)
        assert h['pos_score_spread'] == 0.0
        assert h['num_pos'] == float((target < 4).sum())
    assert runner.message_hub.get_scalar(
        'train/ranking/global_ap').current() == h['global_ap']
    hook.after_run(runner)
    assert osp.exists(osp.join(str(tmp_path), 'ranking_stats.png'))


def test_bad_arguments():
    with pytest.raises(ValueError, match='interval'):
        RankingStatsHook(interval=0)
    with pytest.raises(ValueError, match='delta'):
        RankingStatsHook(delta=0)


def test_hook_with_a_global_loss_that_is_not_a_ranking_loss(tmp_path):
    # GHM reduces globally but keeps no AP: the hook computes it
    from mmdet_lossplus.losses import GHMC
    model = nn.Module()
    model.bbox_head = nn.Module()
    model.bbox_head.conv = nn.Linear(1, 1)
    model.bbox_head.loss_cls = GHMC(bins=10)
    hook = RankingStatsHook(interval=1)
    runner = fake_runner(model, tmp_path, name='ranking_ghm')
    hook.before_run(runner)
    hook.before_train_iter(runner, 0)
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(40, 4, generator=g)
    target = torch.randint(0, 5, (40, ), generator=g)
    model.bbox_head.loss_cls(pred, target)
    hook.after_train_iter(runner, 0)
    want = batch_ap(pred, ranking_labels(pred, target, None), 1.0, False)
    assert hook.history[-1]['global_ap'] == pytest.approx(want.item())
