"""tools/analysis_tools/demo_results.py: the results file and its table
(the training itself is what tools/demo.py and the end-to-end tests run)."""
import json
import os.path as osp

import pytest
from conftest import ROOT, load_tool


def _load_tool():
    return load_tool('analysis_tools', 'demo_results.py')


demo_results = _load_tool()


def _record(config, seed, mapv):
    return dict(
        config=config,
        seed=seed,
        gpus=1,
        bbox_mAP=mapv,
        bbox_mAP_50=mapv + 0.1,
        bbox_mAP_75=mapv,
        s_per_iter=0.15,
        commit='abc1234')


def test_recorded_runs_are_read_and_tabled(tmp_path):
    path = tmp_path / 'runs.jsonl'
    runs = [
        _record('configs/atss/atss_r18_fpn_demo.py', 0, 0.182),
        _record('configs/fcos/fcos_r18_fpn_demo.py', 0, 0.166)
    ]
    path.write_text('\n'.join(json.dumps(r) for r in runs) + '\n\n')
    loaded = demo_results.load_runs(str(path))
    assert loaded == runs
    table = demo_results.table(
        loaded, [osp.join(ROOT, 'configs/atss/atss_r18_fpn_demo.py')])
    lines = table.splitlines()
    assert len(lines) == 3  # header, rule, the one ATSS run
    assert '| 0.182 | 0.282 | 0.182 | 0.150 | - | abc1234 |' in lines[2]
    assert demo_results.load_runs(str(tmp_path / 'missing.jsonl')) == []


def test_a_corrupted_results_line_is_reported(tmp_path):
    path = tmp_path / 'runs.jsonl'
    path.write_text('{"config": "a"}\n{not json\n')
    with pytest.raises(SystemExit, match='runs.jsonl:2'):
        demo_results.load_runs(str(path))


def test_arguments_are_checked(tmp_path):
    with pytest.raises(SystemExit):
        demo_results.main(['configs/none.py', '--table'])
    with pytest.raises(SystemExit):
        demo_results.main([
            osp.join(ROOT, 'configs/atss/atss_r18_fpn_demo.py'), '--gpus', '0'
        ])


def test_summary_gives_mean_and_sample_std_over_seeds(tmp_path):
    config = 'configs/atss/atss_r18_fpn_demo.py'
    values = ((0, 0.10), (1, 0.20), (2, 0.30))
    runs = [_record(config, s, v) for s, v in values]
    runs.append(_record('configs/fcos/fcos_r18_fpn_demo.py', 0, 0.166))
    text = demo_results.summary(runs, [osp.join(ROOT, config)])
    lines = text.splitlines()
    assert len(lines) == 3  # header, rule, the ATSS group only
    # mean 0.2, sample std 0.1 (hand-computed)
    assert '| 3 | 0.200 +- 0.100 | 0: 0.100, 1: 0.200, 2: 0.300 |' in lines[2]
    # mAP@50 is mAP + 0.1 in _record: its mean is 0.3
    assert lines[2].endswith('| 0.300 | 0.200 | baseline |')
    one = demo_results.summary(
        runs[-1:],
        [osp.join(ROOT, 'configs/fcos/fcos_r18_fpn_demo.py')]).splitlines()[2]
    assert '0.166 +- - (one seed)' in one
    picture = tmp_path / 'runs.png'
    demo_results.plot(runs, [osp.join(ROOT, config)], str(picture))
    assert picture.stat().st_size > 1000


def test_picture_groups_rows_by_detector_baseline_first():
    atss, aploss = ('configs/atss/atss_r18_fpn_demo.py',
                    'configs/atss/atss_r18_fpn_aploss_demo.py')
    ghm, fcos = ('configs/ghm/retinanet_r18_fpn_ghm_demo.py',
                 'configs/fcos/fcos_r18_fpn_demo.py')
    runs = [
        _record(aploss, 0, 0.3),
        _record(atss, 0, 0.1),
        _record(fcos, 0, 0.17),
        _record(atss, 1, 0.3),
        _record(ghm, 0, 0.02),
    ]
    rows = demo_results.plot_rows(
        runs, [osp.join(ROOT, c) for c in (aploss, atss, fcos, ghm)])
    # RetinaNet, ATSS, FCOS; the baseline first within its detector; the
    # dashed line at the baseline's mean (0.2 for ATSS), none where the
    # detector's baseline has no run (RetinaNet here)
    assert rows == [
        ('retinanet_r18_fpn_ghm_demo x1 (n=1)', [0.02], None, False),
        ('atss_r18_fpn_demo x1 (n=2)', [0.1, 0.3], 0.2, True),
        ('atss_r18_fpn_aploss_demo x1 (n=1)', [0.3], 0.2, False),
        ('fcos_r18_fpn_demo x1 (n=1)', [0.17], 0.17, True),
    ]


def test_runs_at_another_score_cut_are_left_out(tmp_path):
    # every demo config keeps detections down to 0 (the baseline's test_cfg)
    config = 'configs/atss/atss_r18_fpn_demo.py'
    assert demo_results.config_score_thr(osp.join(ROOT, config)) == 0.0
    at_zero = dict(_record(config, 0, 0.2), score_thr=0.0)
    at_cut = dict(_record(config, 1, 0.1), score_thr=0.05)
    unknown = _record(config, 2, 0.3)  # a record from before the field
    other = dict(_record('configs/fcos/fcos_r18_fpn_demo.py', 0, 0.1))
    kept, stale = demo_results.current_runs([at_zero, at_cut, unknown, other],
                                            [osp.join(ROOT, config)])
    assert kept == [at_zero]
    assert stale == [at_cut, unknown]


def test_reevaluating_without_a_checkpoint_names_the_run(tmp_path):
    record = dict(
        _record('configs/atss/atss_r18_fpn_demo.py', 4, 0.1), score_thr=0.05)
    with pytest.raises(SystemExit, match='atss_r18_fpn_demo.py seed 4 x1'):
        demo_results.reevaluate(record, str(tmp_path))


def _tested(config, checkpoint, data_root, tmp_path):
    """The metrics of tools/test.py run directly on ``checkpoint``."""
    return load_tool('test.py').main([
        osp.join(ROOT, config), checkpoint, '--data-root', data_root,
        '--work-dir',
        str(tmp_path / 'direct')
    ])


def test_reevaluating_tests_the_saved_checkpoint_again(tmp_path, tiny_data):
    """A run's record gets the metrics of testing its checkpoint at the
    config's current cut; the training fields stay."""
    config = 'configs/retinanet/retinanet_r18_fpn_demo.py'
    checkpoint = _save_untrained(
        config, demo_results.run_dir(str(tmp_path), config, 7, 1))
    record = dict(_record(config, 7, 0.5), score_thr=0.05)
    new = demo_results.reevaluate(record, str(tmp_path), tiny_data)
    assert new['score_thr'] == 0.0
    assert new['reevaluated']['previous_score_thr'] == 0.05
    # the metrics of tools/test.py on that checkpoint at the current cut
    # (an untrained detector scores near, not exactly, 0 at cut 0)
    metrics = _tested(config, checkpoint, tiny_data, tmp_path)
    for key in demo_results.METRICS:
        assert new[key] == metrics[f'coco/{key}']
        assert new[key] != record[key]
    assert {k: new[k] for k in ('s_per_iter', 'commit', 'seed')} == \
        {k: record[k] for k in ('s_per_iter', 'commit', 'seed')}


def test_rows_are_compared_with_the_focal_baseline_of_their_detector():
    base = 'configs/atss/atss_r18_fpn_demo.py'
    other = 'configs/atss/atss_r18_fpn_aploss_demo.py'
    runs = [_record(base, s, 0.1) for s in range(3)]
    runs += [_record(other, s, v) for s, v in enumerate((0.1, 0.2, 0.3))]
    runs.append(_record('configs/fcos/fcos_r18_fpn_aploss_demo.py', 0, 0.2))
    text = demo_results.summary(runs, [
        osp.join(ROOT, c)
        for c in (base, other, 'configs/fcos/fcos_r18_fpn_aploss_demo.py')
    ])
    rows = {line.split('`')[1]: line for line in text.splitlines()[2:]}
    # mean difference 0.1; standard error sqrt(0.01 / 3 + 0 / 3) = 0.0577
    assert rows[other].endswith('| +0.100 (+1.7 se) |')
    assert rows[base].endswith('| baseline |')
    # no FCOS focal run recorded: nothing to compare with
    assert rows['configs/fcos/fcos_r18_fpn_aploss_demo.py'].endswith('| - |')
    one = demo_results.difference([_record(other, 0, 0.3)], runs[:3])
    assert one == '+0.200 (one seed)'


def test_the_readme_block_is_replaced_and_only_it(tmp_path):
    readme = tmp_path / 'README.md'
    start, end = demo_results.README_START, demo_results.README_END
    readme.write_text(f'intro\n{start}\nold table\n{end}\noutro\n')
    assert demo_results.write_readme(str(readme), '| new |')
    assert readme.read_text() == f'intro\n{start}\n| new |\n{end}\noutro\n'
    assert not demo_results.write_readme(str(readme), '| new |')
    readme.write_text('no markers\n')
    with pytest.raises(SystemExit, match='demo-results'):
        demo_results.write_readme(str(readme), '| new |')


def test_the_results_page_shows_the_recorded_results():
    """docs/results.md's block is what demo_results prints for every demo
    config from the results file (regenerate with make results-table)."""
    import glob
    configs = sorted(glob.glob(osp.join(ROOT, 'configs', '*', '*_demo.py')))
    runs = demo_results.load_runs(demo_results.RESULTS)
    kept, _ = demo_results.current_runs(runs, configs)
    with open(osp.join(ROOT, 'docs', 'results.md')) as f:
        text = f.read()
    block = text.split(demo_results.README_START)[1].split(
        demo_results.README_END)[0]
    assert block.strip() == demo_results.summary(kept, configs).strip()


def test_runs_with_options_are_rows_of_their_own(tmp_path):
    config = 'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py'
    base = 'configs/retinanet/retinanet_r18_fpn_demo.py'
    options = ['train_dataloader.batch_size=4']
    runs = [_record(base, s, 0.1 + 0.01 * s) for s in range(2)]
    runs += [
        dict(_record(config, s, 0.3), gpus=2, options=options)
        for s in range(2)
    ]
    runs.append(_record(config, 0, 0.2))
    text = demo_results.summary(
        runs,
        [osp.join(ROOT, config), osp.join(ROOT, base)])
    rows = text.splitlines()[2:]
    assert len(rows) == 3
    with_options = [r for r in rows if 'batch_size=4' in r]
    assert len(with_options) == 1
    assert with_options[0].startswith(
        f'| `{config}` with `train_dataloader.batch_size=4` | 2 | 2 |')
    # no 2-process baseline: compared with the 1-process one (same
    # global batch of 8)
    assert with_options[0].endswith('vs 1 proc |')
    assert demo_results.key_of(runs[2]) == (config, 0, 2, tuple(options))
    assert demo_results.run_key(config, 0, 2, options) == \
        demo_results.key_of(runs[2])
    plain = demo_results.run_dir('w', config, 0, 2)
    tagged = demo_results.run_dir('w', config, 0, 2, options)
    assert tagged.startswith(plain + '_') and tagged != plain


def test_the_ranking_hooks_per_rank_figures_are_averaged():
    records = [
        dict(iter=25, loss=1.0),
        {
            'iter': 50,
            'ranking/ap_gap': 0.02,
            'ranking/pos_score_spread': 0.1
        },
        {
            'iter': 100,
            'ranking/ap_gap': 0.04,
            'ranking/pos_score_spread': 0.3
        },
    ]
    shift = demo_results.ranking_shift(records)
    assert shift == pytest.approx(dict(ap_gap=0.03, pos_score_spread=0.2))
    # one process: the hook logs no per-rank figures
    assert demo_results.ranking_shift(records[:1]) == {}
    row = demo_results.table([
        dict(
            _record('configs/atss/atss_r18_fpn_demo.py', 0, 0.2),
            ranking=shift)
    ], [osp.join(ROOT, 'configs/atss/atss_r18_fpn_demo.py')])
    assert '| 0.150 | +0.030 | abc1234 |' in row.splitlines()[2]


def test_the_config_readmes_show_the_recorded_results():
    """Every config folder README with the markers holds what
    demo_results writes for that folder (make results-table)."""
    import glob
    runs = demo_results.load_runs(demo_results.RESULTS)
    readmes = sorted(glob.glob(osp.join(ROOT, 'configs', '*', 'README.md')))
    seen = 0
    for readme in readmes:
        with open(readme) as f:
            text = f.read()
        if demo_results.README_START not in text:
            continue
        seen += 1
        folder = osp.basename(osp.dirname(readme))
        block = text.split(demo_results.README_START)[1].split(
            demo_results.README_END)[0]
        assert block.strip() == demo_results.folder_block(folder,
                                                          runs).strip(), \
            readme
    assert seen >= 4  # alrp, atss, fcos, ghm at least


def test_a_folders_configs_include_their_baselines():
    configs = [
        osp.relpath(c, ROOT) for c in demo_results.folder_configs('ghm')
    ]
    assert 'configs/ghm/ablation/retinanet_r18_fpn_ghmc-l1_x5_demo.py' in \
        configs
    assert configs[-1] == 'configs/retinanet/retinanet_r18_fpn_demo.py'


CIOU = 'configs/iou/retinanet_r18_fpn_ciou_demo.py'
DIOU_NMS = 'configs/iou/retinanet_r18_fpn_ciou-diounms_demo.py'


def test_a_test_time_variant_trains_as_the_config_it_inherits_from(tmp_path):
    twin = demo_results.training_twin
    assert twin(osp.join(ROOT, DIOU_NMS)) == CIOU
    # a changed loss, a list of bases: trainings of their own
    assert twin(osp.join(ROOT, CIOU)) is None
    assert twin(osp.join(
        ROOT, 'configs/retinanet/retinanet_r18_fpn_demo.py')) is None
    base = osp.join(ROOT, DIOU_NMS)
    only_test = tmp_path / 'only_test.py'
    only_test.write_text(f"_base_ = '{base}'\n"
                         'model = dict(test_cfg=dict(max_per_img=7))\n'
                         "val_evaluator = dict(metric='bbox')\n")
    assert twin(str(only_test)) == demo_results.run_key(base, 0, 1)[0]
    also_train = tmp_path / 'also_train.py'
    also_train.write_text(f"_base_ = '{base}'\n"
                          'model = dict(test_cfg=dict(max_per_img=7))\n'
                          'optim_wrapper = dict(optimizer=dict(lr=0.5))\n')
    assert twin(str(also_train)) is None


def _save_untrained(config, run):
    import os

    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_lossplus.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, config))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    os.makedirs(run)
    checkpoint = osp.join(run, 'iter_1.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), checkpoint)
    with open(osp.join(run, 'last_checkpoint'), 'w') as f:
        f.write(checkpoint)
    return checkpoint


def test_a_test_time_variant_is_its_twins_checkpoint_tested_with_it(
        tmp_path, tiny_data):
    checkpoint = _save_untrained(
        CIOU, demo_results.run_dir(str(tmp_path), CIOU, 3, 1))
    twin_record = dict(
        _record(CIOU, 3, 0.4), score_thr=0.0, iterations=2000, wall_s=300.0)
    new = demo_results.evaluate_twin(
        osp.join(ROOT, DIOU_NMS), twin_record, str(tmp_path), tiny_data)
    metrics = _tested(DIOU_NMS, checkpoint, tiny_data, tmp_path)
    for key in demo_results.METRICS:
        assert new[key] == metrics[f'coco/{key}']
    assert (new['config'], new['seed'], new['gpus']) == (DIOU_NMS, 3, 1)
    assert new['trained_by'] == dict(config=CIOU, commit='abc1234')
    # the training's figures are the twin's; the wall time is the test's
    assert (new['s_per_iter'], new['iterations']) == (0.15, 2000)
    assert new['wall_s'] < twin_record['wall_s']
    # evaluating it again finds the twin's checkpoint
    again = demo_results.reevaluate(
        dict(new, score_thr=0.05), str(tmp_path), tiny_data)
    assert {k: again[k] for k in demo_results.METRICS} == \
        {k: new[k] for k in demo_results.METRICS}


def test_a_missing_twin_run_is_trained_first_and_once(tmp_path, monkeypatch):
    calls = []

    def train_one(config, seed, gpus, work_root, options=()):
        calls.append(('train', demo_results.run_key(config, 0, 1)[0], seed))
        return dict(
            _record(demo_results.run_key(config, 0, 1)[0], seed, 0.3),
            score_thr=0.0)

    def evaluate_twin(config, twin_record, work_root, data_root=None):
        calls.append(('test', demo_results.run_key(config, 0, 1)[0],
                      twin_record['config'], twin_record['seed']))
        return dict(
            _record(
                demo_results.run_key(config, 0, 1)[0], twin_record['seed'],
                0.31),
            score_thr=0.0,
            trained_by=dict(config=twin_record['config']))

    monkeypatch.setattr(demo_results, 'train_one', train_one)
    monkeypatch.setattr(demo_results, 'evaluate_twin', evaluate_twin)
    results = str(tmp_path / 'runs.jsonl')
    configs = [osp.join(ROOT, c) for c in (DIOU_NMS, CIOU)]
    demo_results.main(configs + ['--seeds', '5', '--results', results])
    assert calls == [('train', CIOU, 5), ('test', DIOU_NMS, CIOU, 5)]
    calls.clear()
    demo_results.main(configs + ['--seeds', '5', '6', '--results', results])
    assert calls == [('train', CIOU, 6), ('test', DIOU_NMS, CIOU, 6)]
    recorded = demo_results.load_runs(results)
    assert sorted((r['config'], r['seed']) for r in recorded) == sorted(
        (c, s) for c in (CIOU, DIOU_NMS) for s in (5, 6))


def test_a_twins_rows_show_the_paired_difference_on_the_same_trainings():
    base = 'configs/retinanet/retinanet_r18_fpn_demo.py'
    runs = [_record(base, s, 0.10) for s in (0, 1)]
    runs += [_record(CIOU, 0, 0.20), _record(CIOU, 1, 0.30)]
    runs += [
        dict(_record(DIOU_NMS, 0, 0.20), trained_by=dict(config=CIOU)),
        dict(_record(DIOU_NMS, 1, 0.32), trained_by=dict(config=CIOU)),
    ]
    configs = [osp.join(ROOT, c) for c in (base, CIOU, DIOU_NMS)]
    lines = demo_results.summary(runs, configs).splitlines()
    row = next(line for line in lines if DIOU_NMS in line)
    # (0.20 - 0.20, 0.32 - 0.30) -> mean +0.010, seed for seed
    assert row.endswith('; vs `retinanet_r18_fpn_ciou_demo.py`: +0.010 on '
                        'the same 2 checkpoint(s) (range +0.000 to '
                        '+0.020) |')
    ciou_row = next(line for line in lines if f'`{CIOU}`' in line)
    assert 'checkpoint' not in ciou_row


def test_the_time_left_comes_from_the_recorded_wall_times():
    names = ('configs/atss/atss_r18_fpn_demo.py',
             'configs/fcos/fcos_r18_fpn_demo.py',
             'configs/atss/atss_r18_fpn_aploss_demo.py')
    runs = [
        dict(_record(names[0], 0, 0.1), wall_s=300.0),
        dict(_record(names[0], 1, 0.1), wall_s=420.0),
        dict(_record(names[1], 0, 0.1), wall_s=600.0),
        dict(_record(names[1], 1, 0.1), wall_s=9.0, gpus=2),
    ]
    a, b, c = (osp.join(ROOT, n) for n in names)
    expected = demo_results.expected_time
    # a: 360 s, b: 600 s, c unknown -> the mean of the known, 480 s
    assert expected(runs, [(a, 2), (b, 2), (c, 2)], 1) == \
        '; about 24 min left'
    assert expected(runs, [(c, 0)], 1) == ''
    assert expected(runs, [(b, 3)], 2) == '; about 0 min left'
    # a test-time variant only tests its twin's checkpoint: it adds nothing
    assert expected(runs, [(a, 2), (osp.join(ROOT, DIOU_NMS), 2)], 1) == \
        '; about 6 min left'


def test_a_dry_run_lists_the_missing_runs_and_writes_nothing(tmp_path, capsys):
    results = tmp_path / 'runs.jsonl'
    text = ''.join(
        json.dumps(dict(_record(CIOU, s, 0.1), wall_s=360.0)) + '\n'
        for s in (0, 1))
    results.write_text(text)
    demo_results.main([
        osp.join(ROOT, CIOU),
        osp.join(ROOT, DIOU_NMS), '--seeds', '0', '1', '2', '--dry-run',
        '--results',
        str(results), '--work-root',
        str(tmp_path / 'work')
    ])
    out = capsys.readouterr().out.splitlines()
    # seed 2 of CIoU (6 min) and seeds 0-2 of its DIoU-NMS variant, seed
    # by seed
    assert out[0] == '>>> 4 run(s) to do, 2 recorded; about 6 min left'
    variant = f'    {DIOU_NMS} seed %d x1 (tests the training of {CIOU})'
    assert out[1:] == [
        variant % 0, variant % 1, f'    {CIOU} seed 2 x1', variant % 2
    ]
    assert results.read_text() == text
    assert not (tmp_path / 'work').exists()


def test_other_evaluators_metrics_are_recorded_and_tabled():
    logged = {
        'coco/bbox_mAP': 0.2,
        'coco/bbox_mAP_50': 0.3,
        'coco/bbox_mAP_75': 0.25,
        'coco/bbox_mAP_s': 0.1,
        'angle/acc15': 0.4,
        'angle/mae': 90.0,
        'time': 0.1,
        'step': 0
    }
    assert demo_results.evaluation_metrics(logged) == dict(
        bbox_mAP=0.2,
        bbox_mAP_50=0.3,
        bbox_mAP_75=0.25,
        other_metrics={
            'angle/acc15': 0.4,
            'angle/mae': 90.0
        })
    assert 'other_metrics' not in demo_results.evaluation_metrics({
        k: v
        for k, v in logged.items() if not k.startswith('angle')
    })
    config = 'configs/multibin/retinanet_r18_fpn_angle-multibin_demo.py'
    base = 'configs/retinanet/retinanet_r18_fpn_demo.py'
    runs = [_record(base, 0, 0.1)] + [
        dict(
            _record(config, s, 0.2),
            other_metrics={
                'angle/acc15': acc,
                'angle/mae': mae
            }) for s, acc, mae in ((0, 0.4, 90.0), (1, 0.5, 80.0))
    ]
    configs = [osp.join(ROOT, c) for c in (base, config)]
    # mean +- sample std: acc (0.45, 0.0707), mae (85, 7.07)
    assert demo_results.other_metrics_table(runs, configs).splitlines() == [
        '| config | processes | seeds | `angle/acc15` | `angle/mae` |',
        '|---|---|---|---|---|',
        f'| `{config}` | 1 | 2 | 0.45 +- 0.071 | 85 +- 7.1 |',
    ]
    assert demo_results.other_metrics_table(runs[:1], configs) == ''
