"""tools/analysis_tools/finetune.py: the fine-tuning options, where the
base checkpoint is, and the table's figures computed by hand."""
from conftest import load_tool

ft = load_tool('analysis_tools', 'finetune.py')
RETINA = 'configs/retinanet/retinanet_r18_fpn_demo.py'
GHM = 'configs/ghm/retinanet_r18_fpn_ghm_demo.py'


def test_base_checkpoint_is_the_demo_runs_last_one():
    assert ft.base_checkpoint(RETINA) == (
        'work_dirs/results/retinanet_r18_fpn_demo_seed0_x1/iter_2000.pth')
    options = ft.options_for('x.pth')
    assert options[0] == 'load_from=x.pth'
    assert 'train_cfg.max_iters=1000' in options


def test_table_compares_every_loss_with_the_focal_control():
    bases = {b: f'{b}.pth' for b in ft.PLAN}
    options = ft.options_for(bases[RETINA])
    records = [
        dict(config=c, seed=s, gpus=1, options=options, bbox_mAP=v)
        for c, s, v in ((RETINA, 0, 0.20), (RETINA, 1, 0.22), (GHM, 0, 0.10),
                        (GHM, 1, 0.14))
    ] + [dict(config=GHM, seed=2, gpus=1, options=[], bbox_mAP=0.9)]
    demo_runs = [
        dict(config=RETINA, seed=0, gpus=1, bbox_mAP=0.15),
        dict(config=RETINA, seed=1, gpus=1, bbox_mAP=0.5),  # another seed
        dict(config=RETINA, seed=0, gpus=2, bbox_mAP=0.6),  # two processes
    ]
    lines = ft.finetune_table(records, bases, demo_runs).splitlines()
    assert lines[2] == ('| `retinanet_r18_fpn_demo.py` | nothing: the base '
                        'checkpoint (seed 0, 2,000 iterations) | - | 0.150 '
                        '| - | - |')
    lines = lines[:2] + lines[3:]
    assert lines[2] == ('| `retinanet_r18_fpn_demo.py` | '
                        '`retinanet_r18_fpn_demo` | 2 | 0.210 +- 0.014 | '
                        '0: 0.200, 1: 0.220 | control |')
    # 0.12 - 0.21 = -0.090; se = sqrt(0.0002 / 2 + 0.0008 / 2)
    se = (0.0002 / 2 + 0.0008 / 2)**0.5
    assert lines[4] == (
        '| `retinanet_r18_fpn_demo.py` | '
        '`retinanet_r18_fpn_ghm_demo` | 2 | 0.120 +- 0.028 | '
        f'0: 0.100, 1: 0.140 | -0.090 ({-0.09 / se:+.1f} se) |')
    assert lines[3].endswith('| 0 | - | - | - |')  # GHM-C + L1: no runs
    assert len(lines) == 2 + 5 + 1 + 2  # the ATSS base row, its 2 losses
    atss = ft.finetune_table(records, bases, demo_runs).splitlines()[8]
    assert atss.endswith('| - | not recorded | - | - |')


def test_a_retrained_base_is_shown_with_its_demo_run():
    """A base checkpoint trained again (another machine or commit) is the
    start of the fine-tuning; its demo run's mAP is shown beside it."""
    bases = {b: f'{b}.pth' for b in ft.PLAN}
    retrained = dict(
        config=RETINA, seed=0, gpus=1, bbox_mAP=0.135, role='base')
    demo = [dict(config=RETINA, seed=0, gpus=1, bbox_mAP=0.14)]
    line = ft.finetune_table([retrained], bases, demo).splitlines()[2]
    assert line.endswith('| - | 0.135 (its demo run: 0.140) | - | - |')
    same = dict(retrained, bbox_mAP=0.14)
    line = ft.finetune_table([same], bases, demo).splitlines()[2]
    assert line.endswith('| - | 0.140 | - | - |')


def test_ensure_base_refuses_an_unrecorded_checkpoint(tmp_path, monkeypatch):
    """A checkpoint in the base's place without its record: nothing says
    what trained it, so it is not used."""
    import pytest
    checkpoint = tmp_path / 'iter_2000.pth'
    checkpoint.write_bytes(b'')
    monkeypatch.setattr(ft, 'ROOT', str(tmp_path))
    monkeypatch.setattr(ft, 'base_checkpoint', lambda base: checkpoint.name)
    monkeypatch.setattr(ft, 'FINETUNED', str(tmp_path / 'finetune.jsonl'))
    with pytest.raises(SystemExit, match='not recorded'):
        ft.ensure_base(RETINA, dry_run=False)
    (tmp_path / 'finetune.jsonl').write_text(
        '{"config": "%s", "seed": 0, "gpus": 1, "bbox_mAP": 0.1, '
        '"role": "base"}\n' % RETINA)
    assert ft.ensure_base(RETINA, dry_run=False) == checkpoint.name


def test_the_results_page_shows_the_recorded_runs():
    """docs/results.md's fine-tuning block is what the tool writes from the
    results files (regenerate with make results-table)."""
    import os.path as osp

    from conftest import ROOT
    bases = {base: ft.base_checkpoint(base) for base in ft.PLAN}
    want = ft.finetune_table(
        ft.load_runs(ft.FINETUNED), bases, ft.load_runs(ft.RESULTS))
    with open(osp.join(ROOT, 'docs', 'results.md')) as f:
        text = f.read()
    block = text.split(ft.README_START)[1].split(ft.README_END)[0]
    assert block.strip() == want.strip()


def test_batch_ap_means_the_start_and_the_end_of_a_run():
    from mmdet_lossplus_tools.results.runner import batch_ap_curve
    scalars = [
        dict(iter=k, **{'ranking/global_ap': ap})
        for k, ap in ((50, 0.1), (100, 0.3), (150, 0.9), (800, 0.5),
                      (950, 0.2), (1000, 0.4))
    ]
    scalars.insert(2, {'coco/bbox_mAP': 0.2, 'step': 0})
    scalars.insert(1, dict(iter=75, loss=0.5))  # no ranking figure
    curve = batch_ap_curve(scalars)
    assert curve == [[50, 0.1], [100, 0.3], [150, 0.9], [800, 0.5], [950, 0.2],
                     [1000, 0.4]]
    # iterations <= 100: 0.1, 0.3; after 1000 - 250 = 750: 0.5, 0.2, 0.4
    start, end = ft.batch_ap(curve, 100, 250)
    assert abs(start - 0.2) < 1e-12 and abs(end - 1.1 / 3) < 1e-12


def _finetuned(config, seed, curve=None):
    options = ft.options_for(ft.base_checkpoint(RETINA))
    record = dict(
        config=config, seed=seed, gpus=1, options=options, bbox_mAP=0.1)
    if curve:
        record['batch_ap'] = curve
    return record


def test_batch_ap_table_reads_the_recorded_curves(tmp_path, monkeypatch):
    """Recorded curves are used as they are; a run without one and without
    a work dir counts as no seed, not as a zero."""
    monkeypatch.setattr(ft, 'ROOT', str(tmp_path))  # no work dirs there
    bases = {base: ft.base_checkpoint(base) for base in ft.PLAN}
    records = [
        _finetuned(RETINA, 0, [[50, 0.1], [100, 0.3], [900, 0.5]]),
        _finetuned(RETINA, 1, [[50, 0.2], [100, 0.2], [900, 0.7]]),
        _finetuned(GHM, 0),
    ]
    lines = ft.batch_ap_table(records, bases).splitlines()
    # start: mean(0.2, 0.2); end (after 650): mean(0.5, 0.7)
    assert lines[2] == ('| `retinanet_r18_fpn_demo.py` | '
                        '`retinanet_r18_fpn_demo` | 2 | 0.200 | 0.600 |')
    assert lines[4] == ('| `retinanet_r18_fpn_demo.py` | '
                        '`retinanet_r18_fpn_ghm_demo` | 0 | - | - |')
    assert len(lines) == 2 + 5 + 2


def test_record_batch_ap_completes_records_from_work_dirs(
        tmp_path, monkeypatch):
    """Runs recorded before the curve was: it is read from their work dir's
    scalars and written into their record; others are left as they are."""
    import json
    import os

    from mmdet_lossplus_tools.results.runner import run_dir
    monkeypatch.setattr(ft, 'ROOT', str(tmp_path))
    path = tmp_path / 'finetune.jsonl'
    old = _finetuned(RETINA, 0)
    kept = _finetuned(GHM, 0, [[50, 0.9]])
    lost = _finetuned(GHM, 1)  # its work dir is gone
    base = dict(config=RETINA, seed=0, gpus=1, bbox_mAP=0.13, role='base')
    path.write_text(''.join(
        json.dumps(r) + '\n' for r in (base, old, kept, lost)))
    logs = tmp_path / run_dir(ft.WORK_ROOT, RETINA, 0, 1, old['options'])
    os.makedirs(logs / '20261207_000000' / 'vis_data')
    (logs / '20261207_000000' / 'vis_data' / 'scalars.json').write_text(
        '{"iter": 50, "loss": 1.0, "ranking/global_ap": 0.123456}\n'
        '{"iter": 100, "loss": 0.9, "ranking/global_ap": 0.2}\n')
    assert ft.record_batch_ap(str(path)) == 1
    after = [json.loads(line) for line in path.read_text().splitlines()]
    assert after[1]['batch_ap'] == [[50, 0.1235], [100, 0.2]]
    assert after[0] == base and after[2] == kept and after[3] == lost
    assert ft.record_batch_ap(str(path)) == 0  # nothing left to complete


def test_the_results_page_shows_the_recorded_batch_ap():
    """docs/results.md's batch-AP block is what the tool writes from the
    records alone (every fine-tuning record carries its curve)."""
    import os.path as osp

    from conftest import ROOT
    records = ft.load_runs(ft.FINETUNED)
    assert all(r.get('batch_ap') for r in records if r.get('role') != 'base')
    bases = {base: ft.base_checkpoint(base) for base in ft.PLAN}
    with open(osp.join(ROOT, 'docs', 'results.md')) as f:
        text = f.read()
    block = text.split(ft.BATCH_AP_START)[1].split(ft.BATCH_AP_END)[0]
    assert block.strip() == ft.batch_ap_table(records, bases).strip()
