"""tools/analysis_tools/schedule_curves.py and the curve a run records:
evaluations along the way read from hand-made scalars, the table's
figures computed by hand."""
from conftest import load_tool

from mmdet_lossplus_tools.results.runner import evaluation_curve

curves = load_tool('analysis_tools', 'schedule_curves.py')


def test_every_evaluation_is_read_at_its_iteration():
    records = [
        dict(iter=25, loss=1.0),
        dict(iter=1000, loss=0.8),
        {
            'coco/bbox_mAP': 0.1,
            'step': 0
        },
        dict(iter=2000, loss=0.7),
        {
            'coco/bbox_mAP': 0.2,
            'step': 0
        },
    ]
    assert evaluation_curve(records) == [[1000, 0.1], [2000, 0.2]]
    assert evaluation_curve(records[:2]) == []


def _run(config, options, seed, maps):
    return dict(
        config=config,
        options=options,
        seed=seed,
        gpus=1,
        bbox_mAP=maps[-1],
        curve=[[1000 * (k + 1), m] for k, m in enumerate(maps)])


def test_table_means_every_evaluation_and_compares_the_final_one():
    focal, ap = curves.ROWS[0][1], curves.ROWS[1][1]
    opts = [curves.EVAL_EVERY, 'optim_wrapper.optimizer.lr=0.002']
    plan = [('focal', '1x', focal, opts), ('AP-loss', '1x', ap, opts),
            ('aLRP', '1x', curves.ROWS[2][1], opts)]
    records = [
        _run(focal, opts, 0, [0.10, 0.12]),
        _run(focal, opts, 1, [0.12, 0.16]),
        _run(ap, opts, 0, [0.20, 0.30]),
        _run(ap, opts, 1, [0.22, 0.26]),
        _run(ap, ['optim_wrapper.optimizer.lr=0.004'], 2, [0.9, 0.9]),
    ]
    lines = curves.curve_table(records, plan).splitlines()
    assert lines[2] == ('| focal | 1x | 2 | 0.110 / 0.140 | 0: 0.120, '
                        '1: 0.160 | baseline |')
    # finals 0.28 vs 0.14: +0.140; each side's sample variance of two
    # values 0.04 apart is 0.04^2 / 2, so se = sqrt(2 * 0.0008 / 2)
    se = (2 * (0.04**2 / 2) / 2)**0.5
    assert lines[3] == ('| AP-loss | 1x | 2 | 0.210 / 0.280 | 0: 0.300, '
                        f'1: 0.260 | +0.140 ({0.14 / se:+.1f} se) |')
    assert lines[4] == '| aLRP | 1x | 0 | - | - | - |'


def test_a_third_seed_is_due_only_within_3_standard_errors():
    focal, ap, alrp = (row[1] for row in curves.ROWS)
    opts = [curves.EVAL_EVERY]
    plan = [('focal', '1x', focal, opts), ('AP-loss', '1x', ap, opts),
            ('aLRP', '1x', alrp, opts)]
    # focal finals 0.14, 0.16; AP-loss 0.15, 0.17: +0.01, se 0.01414
    # (within 3); aLRP 0.30, 0.32: +0.16 (11 se); one seed: not judged
    records = [
        _run(focal, opts, 0, [0.14]),
        _run(focal, opts, 1, [0.16]),
        _run(ap, opts, 0, [0.15]),
        _run(ap, opts, 1, [0.17]),
        _run(alrp, opts, 0, [0.30]),
        _run(alrp, opts, 1, [0.32]),
    ]
    assert curves.third_seed_due(records, plan) == [(ap, opts), (focal, opts)]
    assert curves.third_seed_due(records[:3] + records[4:], plan) == []
    # with seed 2 on AP-loss and focal, nothing is due any more
    records += [_run(focal, opts, 2, [0.15]), _run(ap, opts, 2, [0.16])]
    assert curves.third_seed_due(records, plan) == []


def test_the_results_page_shows_the_recorded_runs():
    """docs/results.md's schedule block is what the tool writes from the
    results files (regenerate with make results-table)."""
    import os.path as osp

    from conftest import ROOT
    want = curves.curve_table(curves.load_runs(curves.LONG), curves.planned())
    with open(osp.join(ROOT, 'docs', 'results.md')) as f:
        text = f.read()
    block = text.split(curves.README_START)[1].split(curves.README_END)[0]
    assert block.strip() == want.strip()
