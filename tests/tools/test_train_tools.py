"""End to end through tools/train.py: single process, torchrun, resume,
load_from, and strict loading of mmdet's own RetinaNet weights."""
import glob
import os.path as osp

import pytest
import torch
from checkpoint_helpers import crafted_checkpoint
from conftest import (DEMO_CONFIG, TINY_OPTIONS, read_scalars, run_py,
                      run_torchrun, train_tiny)


def _train(work_dir, data, extra=(), options=(), config=DEMO_CONFIG):
    return train_tiny(
        work_dir,
        data,
        config,
        options=TINY_OPTIONS + list(options) + list(extra))


@pytest.fixture(scope='module')
def single_run(tmp_path_factory, tiny_data):
    work_dir = str(tmp_path_factory.mktemp('single'))
    _train(work_dir, tiny_data)
    return work_dir


def test_training_checkpoint_loads_under_the_safe_policy(
        single_run, monkeypatch):
    # what a full mmengine checkpoint holds beyond tensors: exactly the
    # allow-list's kinds; it loads without the opt-in, through torch's
    # allow-list (torch >= 2.5) and through our unpickler (older torch)
    import importlib
    loading = importlib.import_module(
        'mmdet_lossplus.utils.checkpoint_loading')
    path = osp.join(single_run, 'iter_4.pth')
    if hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint'):
        unsafe = set(
            torch.serialization.get_unsafe_globals_in_checkpoint(path))
        assert unsafe <= {
            'builtins.getattr', 'numpy.ndarray', 'numpy.dtype',
            'numpy._core.multiarray.scalar',
            'numpy._core.multiarray._reconstruct',
            'numpy.core.multiarray.scalar',
            'numpy.core.multiarray._reconstruct',
            'mmengine.logging.history_buffer.HistoryBuffer'
        } | {f'numpy.dtypes.{n}'
             for n in dir(__import__('numpy').dtypes)}
    for own in (False, True):
        if not own and not hasattr(torch.serialization, 'safe_globals'):
            continue  # torch < 2.5: only our unpickler exists
        monkeypatch.setattr(loading, 'FORCE_OWN_UNPICKLER', own)
        ckpt = loading.load_checkpoint_file(
            torch.load, path, trust=False, map_location='cpu')
        assert {
            'meta', 'state_dict', 'message_hub', 'optimizer',
            'param_schedulers'
        } <= set(ckpt)


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_crafted_checkpoint_is_refused_by_the_tools(tool, tmp_path, tiny_data):
    # a config naming our plugin and a crafted checkpoint (load_from or
    # the checkpoint to test): refused with the file, the global and the
    # opt-in named; the payload never runs
    evil = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(evil, marker)
    if tool == 'train':
        args = ['tools/train.py', DEMO_CONFIG]
        options = TINY_OPTIONS + [f'load_from={evil}']
    else:
        args = ['tools/test.py', DEMO_CONFIG, evil]
        options = [o for o in TINY_OPTIONS if o.startswith('test_')]
    proc = run_py(
        args + [
            '--work-dir',
            str(tmp_path / 'w'), '--data-root', tiny_data, '--cfg-options'
        ] + options,
        check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert 'UntrustedCheckpointError' in err and evil in err, err[-3000:]
    assert 'posix.mkdir' in err and '--trust-checkpoint' in err
    assert not osp.exists(marker)


def test_trust_checkpoint_flag_unpickles_fully(tmp_path, tiny_data):
    # the opt-in does what it says: the payload runs
    evil = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(evil, marker)
    run_py([
        'tools/test.py', DEMO_CONFIG, evil, '--trust-checkpoint', '--work-dir',
        str(tmp_path / 'w'), '--data-root', tiny_data, '--cfg-options'
    ] + [o for o in TINY_OPTIONS if o.startswith(('test_', 'model.test_cfg'))])
    assert osp.isdir(marker)


def test_single_process_trains_evaluates_and_draws(single_run):
    records = read_scalars(single_run)
    losses = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2, 3, 4]
    assert all(r['loss'] > 0 for r in losses)
    assert any('coco/bbox_mAP' in r for r in records)
    assert osp.exists(osp.join(single_run, 'iter_4.pth'))
    assert osp.exists(osp.join(single_run, 'predictions.png'))
    # the demo's GradientHistogramHook (interval 2 here) with mmdet's
    # focal + L1 losses: shares logged at iterations 2 and 4, plot written
    hist = [r for r in losses if 'grad_hist/cls_easy' in r]
    # only where measured: iteration 3 does not repeat iteration 2's
    assert [r['iter'] for r in hist] == [2, 4]
    for r in hist:
        assert 0 < r['grad_hist/cls_easy'] <= 1
        assert r['grad_hist/cls_count'] > 1000
        assert 0 <= r['grad_hist/reg_outlier'] <= 1
    assert osp.exists(osp.join(single_run, 'gradient_histograms.png'))
    # and its RankingStatsHook (interval 2): one process, so no per-rank
    # figures are logged, only the global ones
    ranked = [r for r in losses if 'ranking/global_ap' in r]
    assert [r['iter'] for r in ranked] == [2, 4]
    assert all(0 <= r['ranking/global_ap'] <= 1 for r in ranked)
    assert not any('ranking/ap_gap' in r for r in records)
    assert osp.exists(osp.join(single_run, 'ranking_stats.png'))


def test_resume_continues_exactly(single_run, tmp_path, tiny_data):
    """Resuming from iter 2 reproduces iterations 3-4 of the full run."""
    work_dir = str(tmp_path / 'resumed')
    _train(
        work_dir,
        tiny_data,
        extra=['--resume', osp.join(single_run, 'iter_2.pth')])
    full = {
        r['iter']: r['loss']
        for r in read_scalars(single_run) if 'loss' in r
    }
    resumed = {
        r['iter']: r['loss']
        for r in read_scalars(work_dir) if 'loss' in r
    }
    assert sorted(resumed) == [3, 4]
    for it in (3, 4):
        assert resumed[it] == pytest.approx(full[it], rel=1e-5), it


def test_load_from_a_zoo_style_mmdet_checkpoint(tmp_path, tiny_data):
    """mmdet's own RetinaNet weights (plus pickled meta, as zoo files have)
    load strictly into the demo model through ``load_from``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.logging import HistoryBuffer
    register_all_modules()
    cfg = Config.fromfile(DEMO_CONFIG)
    model = MODELS.build(cfg.model)
    state = model.state_dict()
    path = str(tmp_path / 'zoo.pth')
    torch.save(
        dict(
            state_dict=state,
            meta=dict(mmdet_version='3.3.0', hist=HistoryBuffer([1.], [1]))),
        path)
    work_dir = str(tmp_path / 'finetune')
    proc = _train(work_dir, tiny_data, options=[f'load_from={path}'])
    log = proc.stdout + proc.stderr
    assert 'Load checkpoint from' in log
    assert 'missing keys' not in log and 'unexpected key' not in log


def test_two_process_gloo_training(tmp_path, tiny_data):
    work_dir = str(tmp_path / 'dist')
    run_torchrun([
        'tools/train.py', DEMO_CONFIG, '--launcher', 'pytorch', '--work-dir',
        work_dir, '--data-root', tiny_data, '--cfg-options'
    ] + TINY_OPTIONS)
    records = read_scalars(work_dir)
    assert [r['iter'] for r in records if 'loss' in r] == [1, 2, 3, 4]
    assert any('coco/bbox_mAP' in r for r in records)
    log = ''.join(
        open(p).read() for p in glob.glob(osp.join(work_dir, '*', '*.log')))
    assert 'world_size: 2' in log or 'Distributed training: True' in log


def test_amp_on_cpu_fails_with_a_clear_message(tmp_path, tiny_data):
    proc = run_py([
        'tools/train.py', DEMO_CONFIG, '--amp', '--work-dir',
        str(tmp_path), '--data-root', tiny_data
    ],
                  check=False)
    assert proc.returncode != 0
    assert '--amp needs a CUDA device' in proc.stderr


def test_tools_test_py_evaluates_a_checkpoint(single_run, tmp_path, tiny_data):
    proc = run_py([
        'tools/test.py', DEMO_CONFIG,
        osp.join(single_run, 'iter_4.pth'), '--work-dir',
        str(tmp_path), '--data-root', tiny_data, '--out',
        str(tmp_path / 'res.pkl'), '--cfg-options'
    ] + [
        o for o in TINY_OPTIONS
        if o.startswith(('test_dataloader', 'model.test_cfg'))
    ])
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    assert (tmp_path / 'res.pkl').exists()


def test_statistics_reach_tensorboard(tmp_path, tiny_data):
    # A user's config that adds TensorBoard to the demo: the hooks'
    # statistics become scalar curves and the gradient histograms
    # TensorBoard histograms, read back with TensorBoard's own reader.
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    config = tmp_path / 'with_tensorboard.py'
    config.write_text(
        f'_base_ = [{osp.abspath(DEMO_CONFIG)!r}]\n'
        "visualizer = dict(type='DetLocalVisualizer', vis_backends=["
        "dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])\n")
    work_dir = str(tmp_path / 'run')
    _train(work_dir, tiny_data, config=str(config))
    event_dir, = glob.glob(osp.join(work_dir, '*', 'vis_data'))
    events = EventAccumulator(
        event_dir, size_guidance={
            'histograms': 0,
            'scalars': 0
        })
    events.Reload()
    scalars = set(events.Tags()['scalars'])
    assert {'loss', 'grad_hist/cls_easy', 'ranking/global_ap'} <= scalars
    assert [e.step for e in events.Scalars('grad_hist/cls_easy')] == [2, 4]
    assert set(
        events.Tags()['histograms']) == {'grad_hist/cls', 'grad_hist/reg'}
    hist = events.Histograms('grad_hist/cls')[-1].histogram_value
    assert hist.num > 1000 and sum(hist.bucket) == hist.num
