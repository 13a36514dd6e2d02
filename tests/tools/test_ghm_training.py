"""GHM through tools/train.py: EMA state saved, resumed runs continue
exactly, and the state is what makes them exact."""
import os.path as osp

import pytest
import torch
from conftest import ROOT, TINY_OPTIONS, read_scalars, train_tiny

GHM_CONFIG = osp.join(ROOT, 'configs', 'ghm', 'retinanet_r18_fpn_ghm_demo.py')


def _losses(work_dir):
    return {
        r['iter']: r['loss']
        for r in read_scalars(work_dir) if 'loss' in r
    }


def _train(work_dir, data, extra=()):
    train_tiny(work_dir, data, GHM_CONFIG, options=TINY_OPTIONS + list(extra))


def _safe_load(path):
    """Our training checkpoint through the default (allow-list) policy."""
    from mmdet_lossplus.utils.checkpoint_loading import load_checkpoint_file
    return load_checkpoint_file(
        torch.load, path, trust=False, map_location='cpu')


@pytest.fixture(scope='module')
def full_run(tmp_path_factory, tiny_data):
    work_dir = str(tmp_path_factory.mktemp('ghm_full'))
    _train(work_dir, tiny_data)
    return work_dir


def test_checkpoint_holds_the_ema(full_run):
    ckpt = _safe_load(osp.join(full_run, 'iter_2.pth'))
    sd = ckpt['state_dict']
    for loss in ('loss_cls', 'loss_bbox'):
        acc = sd[f'bbox_head.{loss}.acc_sum']
        steps = sd[f'bbox_head.{loss}.ema_steps']
        assert acc.sum() > 0
        # One update per iteration: 2 iterations, at most 2 steps per bin.
        assert steps.max().item() == 2


def test_resumed_run_continues_exactly(full_run, tmp_path, tiny_data):
    work_dir = str(tmp_path / 'resumed')
    _train(
        work_dir,
        tiny_data,
        extra=['--resume', osp.join(full_run, 'iter_2.pth')])
    full, resumed = _losses(full_run), _losses(work_dir)
    assert sorted(resumed) == [3, 4]
    for it in (3, 4):
        assert resumed[it] == pytest.approx(full[it], rel=1e-6, abs=1e-7)


def test_without_the_ema_the_resumed_run_differs(full_run, tmp_path,
                                                 tiny_data):
    """Negative control: dropping the EMA from the checkpoint changes the
    losses, so the exactness above really comes from the saved state."""
    ckpt = _safe_load(osp.join(full_run, 'iter_2.pth'))
    ckpt['state_dict'] = {
        k: v
        for k, v in ckpt['state_dict'].items()
        if not k.endswith(('acc_sum', 'ema_steps'))
    }
    stripped = str(tmp_path / 'stripped.pth')
    torch.save(ckpt, stripped)
    work_dir = str(tmp_path / 'stripped_run')
    _train(work_dir, tiny_data, extra=['--resume', stripped])
    full, resumed = _losses(full_run), _losses(work_dir)
    assert resumed[3] != pytest.approx(full[3], rel=1e-6, abs=1e-7)
