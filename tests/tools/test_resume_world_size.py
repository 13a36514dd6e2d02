"""A run saved with 2 processes resumes with 1 (and 1 -> 2) and continues
exactly: same global batch (2 x 2 images = 1 x 4), frozen BN, GHM's EMA
restored on every rank, our head's global normaliser."""
import os.path as osp

import pytest
from conftest import (ROOT, TINY_OPTIONS, free_port, read_scalars, run_py,
                      train_tiny)

GHM_CONFIG = osp.join(ROOT, 'configs', 'ghm', 'retinanet_r18_fpn_ghm_demo.py')
# frozen BN: batch statistics of 2 and of 4 images differ
FROZEN = ['model.backbone.norm_eval=True']


def _options(per_rank):
    opts = [o for o in TINY_OPTIONS if 'batch_size' not in o]
    return opts + [f'train_dataloader.batch_size={per_rank}'] + FROZEN


def _train(work_dir, data, world, extra=()):
    train_tiny(
        work_dir,
        data,
        GHM_CONFIG,
        flags=extra,
        options=_options(4 // world),
        world=world)


def _losses(work_dir):
    return {
        r['iter']: (r['loss_cls'], r['loss_bbox'])
        for r in read_scalars(work_dir) if 'loss' in r
    }


@pytest.mark.parametrize('saved,resumed', [(2, 1), (1, 2)])
def test_resume_with_another_number_of_processes(saved, resumed, tmp_path,
                                                 tiny_data):
    first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
    _train(first, tiny_data, saved)
    _train(
        second,
        tiny_data,
        resumed,
        extra=['--resume', osp.join(first, 'iter_2.pth')])
    full, cont = _losses(first), _losses(second)
    assert sorted(cont) == [3, 4]
    for it in (3, 4):
        for a, b in zip(cont[it], full[it]):
            assert a == pytest.approx(b, rel=1e-5, abs=1e-6), (it, cont, full)


def test_per_rank_histograms_are_caught_by_the_state_check(
        tmp_path, tiny_data):
    """1 -> 2 with GHM's histograms per rank (mmdet's behaviour): the EMA
    drifts apart and the demo runtime's LossStateCheckHook stops the job
    on the first iteration with a clear error, instead of training on."""
    first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
    _train(first, tiny_data, 1)
    proc = run_py(
        [
            '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
            f'--master_port={free_port()}', 'tools/train.py', GHM_CONFIG,
            '--launcher', 'pytorch', '--work-dir', second, '--data-root',
            tiny_data, '--resume',
            osp.join(first, 'iter_2.pth'), '--cfg-options'
        ] + _options(2) + [
            'model.bbox_head.loss_cls.scope=local',
            'model.bbox_head.loss_bbox.scope=local'
        ],
        check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert 'loss state differs across ranks at iteration 3' in out
