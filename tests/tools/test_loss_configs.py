"""Every shipped config parses and builds; the demo-data loss configs train
through tools/train.py."""
import glob
import os.path as osp

import pytest
import torch
from conftest import ROOT, TINY_OPTIONS, read_scalars, run_py, run_torchrun

CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
# our heads and the mmdet head whose weights they share
MMDET_HEAD = {
    'mmdet_lossplus.ConfigurableNMSATSSHead': 'ATSSHead',
    'mmdet_lossplus.ConfigurableNMSFCOSHead': 'FCOSHead',
    'mmdet_lossplus.AllLevelATSSHead': 'ATSSHead',
    'mmdet_lossplus.AllLevelFCOSHead': 'FCOSHead',
    'mmdet_lossplus.RankSortATSSHead': 'ATSSHead',
}
DEMO_LOSS_CONFIGS = [
    'configs/alrp/retinanet_r18_fpn_alrp_demo.py',
    'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
    'configs/atss/atss_r18_fpn_ghmc_demo.py',
    'configs/atss/atss_r18_fpn_ranksort_demo.py',
    'configs/fcos/fcos_r18_fpn_aploss_demo.py',
    'configs/ghm/retinanet_r18_fpn_mmdet-ghm_demo.py',
    'configs/iou/retinanet_r18_fpn_ciou-diounms_demo.py',
    'configs/multibin/retinanet_r18_fpn_angle-multibin_demo.py',
]


@pytest.mark.parametrize(
    'path', [c for c in CONFIGS if '_base_' not in c],
    ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds_a_model(path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    register_all_modules()
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0
    # Same weights as mmdet's head, whatever the loss: strict load of a
    # state dict built from mmdet's own head of the same config (ours are
    # RetinaHead's subclasses).
    head_cfg = cfg.model.bbox_head.copy()
    if head_cfg.type.startswith('mmdet_lossplus.'):
        head_cfg.type = MMDET_HEAD.get(head_cfg.type, 'RetinaHead')
        head_cfg.pop('angle_coder', None)
        head_cfg.pop('loss_angle', None)
    head_cfg.loss_cls = dict(
        type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25)
    head_cfg.loss_bbox = dict(type='L1Loss')
    with DefaultScope.overwrite_default_scope('mmdet'):
        ref = MODELS.build(head_cfg)
    if 'angle-' in path:
        # the orientation branch is new; everything else loads
        result = model.bbox_head.load_state_dict(
            ref.state_dict(), strict=False)
        assert sorted(result.missing_keys) == [
            'retina_angle.bias', 'retina_angle.weight'
        ]
        assert not result.unexpected_keys
    elif 'ranksort' in path:
        # RS-ATSS has no centerness branch; everything else loads
        result = model.bbox_head.load_state_dict(
            ref.state_dict(), strict=False)
        assert sorted(result.unexpected_keys) == [
            'atss_centerness.bias', 'atss_centerness.weight'
        ]
        assert not result.missing_keys
    elif 'mmdet-ghm' in path:
        # mmdet's own GHM losses keep persistent buffers: a focal-loss
        # checkpoint does not load strictly into them (what ours fix).
        with pytest.raises(RuntimeError, match='acc_sum'):
            model.bbox_head.load_state_dict(ref.state_dict(), strict=True)
    else:
        model.bbox_head.load_state_dict(ref.state_dict(), strict=True)


@pytest.mark.parametrize('config', DEMO_LOSS_CONFIGS)
def test_demo_loss_config_trains(config, tmp_path, tiny_data):
    work_dir = str(tmp_path)
    run_py([
        'tools/train.py', config, '--work-dir', work_dir, '--data-root',
        tiny_data, '--cfg-options'
    ] + TINY_OPTIONS)
    losses = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert len(losses) == 4
    assert all(torch.isfinite(torch.tensor(r['loss'])) for r in losses)
    if 'ranksort' in config:
        assert all('loss_rank' in r and 'loss_sort' in r for r in losses)
    if 'angle-' in config:
        assert all('loss_angle' in r for r in losses)
        val = [r for r in read_scalars(work_dir) if 'coco/bbox_mAP' in r]
        assert val and 'angle/mae' in val[-1] and 'angle/matched' in val[-1]


SHARDS = 'train_dataloader.sampler.type=mmdet_lossplus.ObjectCountShardSampler'


@pytest.mark.parametrize('config, options', [
    ('configs/alrp/retinanet_r18_fpn_alrp_demo.py', []),
    ('configs/ghm/retinanet_r18_fpn_ghm_demo.py', []),
    ('configs/atss/atss_r18_fpn_ranksort_demo.py', []),
    ('configs/ap_loss/retinanet_r18_fpn_aploss_demo.py', [SHARDS]),
])
def test_losses_with_state_or_global_ranking_train_with_two_processes(
        config, options, tmp_path, tiny_data):
    """Through mmengine's Runner with 2 gloo processes: its weight
    broadcast after init_weights takes every state_dict value (aLRP's
    self-balance state failed there as a dict), the global ranking and
    the losses' state checks run across ranks; AP-loss also with each
    process on its own shard of the data (ObjectCountShardSampler under
    mmdet's AspectRatioBatchSampler)."""
    work_dir = str(tmp_path)
    run_torchrun([
        'tools/train.py', config, '--work-dir', work_dir, '--data-root',
        tiny_data, '--launcher', 'pytorch', '--cfg-options'
    ] + TINY_OPTIONS + options)
    losses = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert len(losses) == 4
    assert all(torch.isfinite(torch.tensor(r['loss'])) for r in losses)
