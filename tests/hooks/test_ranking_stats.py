import os.path as osp

import pytest
import torch
from ap_loss_reference import reference_ap_loss
from hist_hook_helpers import fake_runner
from torch import nn

from mmdet_lossplus.core.targets import ranking_labels
from mmdet_lossplus.hooks import RankingStatsHook, batch_ap
from mmdet_lossplus.losses import APLoss


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


def _reference_ap(pred, target, delta=1.0):
    """1 - AP-loss from the plain transcription of the definitions."""
    c = pred.shape[1]
    scores, labels = [], []
    for i in range(pred.shape[0]):
        for k in range(c):
            scores.append(float(pred[i, k]))
            labels.append(1 if int(target[i]) == k else 0)
    return 1.0 - reference_ap_loss(scores, labels, delta)[0]


def test_batch_ap_matches_the_reference_transcription():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(50, 3, generator=g)
    target = torch.randint(0, 4, (50, ), generator=g)
    ap = batch_ap(pred, ranking_labels(pred, target, None), 1.0, False)
    assert ap.item() == pytest.approx(_reference_ap(pred, target), abs=1e-9)


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
        want = _reference_ap(pred, target)
        assert h['global_ap'] == pytest.approx(want, abs=1e-6)
        assert 1 - loss.item() == pytest.approx(want, abs=1e-6)
        assert h['local_ap_min'] == pytest.approx(want, abs=1e-6)
        assert h['ap_gap'] == pytest.approx(0.0, abs=1e-6)
        assert h['pos_score_spread'] == 0.0
        assert h['num_pos'] == float((target < 4).sum())
        assert h['world_size'] == 1
        # logged on this iteration; the per-rank figures need 2+ ranks
        scalars = runner.message_hub.log_scalars
        assert scalars['train/ranking/global_ap'].current() == h['global_ap']
        assert 'train/ranking/ap_gap' not in scalars
    # withdrawn before the next iteration: never logged stale
    hook.before_train_iter(runner, 3)
    assert 'train/ranking/global_ap' not in runner.message_hub.log_scalars
    hook.after_run(runner)
    assert osp.exists(osp.join(str(tmp_path), 'ranking_stats.png'))


@pytest.mark.parametrize('kwargs,error', [
    (dict(interval=0), ValueError),
    (dict(interval=1.5), TypeError),
    (dict(delta=0), ValueError),
    (dict(delta=float('nan')), ValueError),
    (dict(delta='1'), TypeError),
    (dict(head=''), TypeError),
    (dict(out_file=None), TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match=list(kwargs)[0]):
        RankingStatsHook(**kwargs)


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
    assert hook.history[-1]['global_ap'] == pytest.approx(
        _reference_ap(pred, target), abs=1e-9)
