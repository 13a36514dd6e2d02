"""tools/analysis_tools/score_shift_sweep.py: records are put in their
cells (processes, images per process, dealing, scope), the table's figures
are those computed by hand, and the READMEs show the recorded sweep."""
import os.path as osp

import pytest
from conftest import ROOT, load_tool

from mmdet_lossplus_tools.results.store import RESULTS, load_runs
from mmdet_lossplus_tools.results.variants import current_runs

sweep = load_tool('analysis_tools', 'score_shift_sweep.py')

CONFIG = 'configs/ap_loss/sweep/retinanet_r18_fpn_aploss_sweep.py'
SWEPT = [CONFIG, 'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py']
ALRP = 'configs/alrp/sweep/retinanet_r18_fpn_alrp_sweep.py'


def _run(seed, gpus, mapv, options=(), gap=None, spread=None, speed=0.2):
    record = dict(
        config=CONFIG,
        seed=seed,
        gpus=gpus,
        bbox_mAP=mapv,
        bbox_mAP_50=mapv,
        bbox_mAP_75=mapv,
        s_per_iter=speed,
        score_thr=0.0)
    if options:
        record['options'] = list(options)
    if gap is not None:
        record['ranking'] = dict(ap_gap=gap, pos_score_spread=spread)
    return record


def test_cells_of_records():
    assert sweep.cell_of(_run(0, 1, 0.1)) == (1, 8, 'random', 'global')
    local = ['train_dataloader.batch_size=2', f'{sweep.SCOPE}=local']
    assert sweep.cell_of(_run(0, 4, 0.1, local)) == (4, 2, 'random', 'local')
    shards = [
        'train_dataloader.batch_size=4',
        f'{sweep.SAMPLER}=mmdet_lossplus.ObjectCountShardSampler'
    ]
    assert sweep.cell_of(_run(0, 2, 0.1, shards)) == \
        (2, 4, 'ObjectCountShardSampler', 'global')
    # one process: the scopes coincide
    assert sweep.cell_of(_run(0, 1, 0.1, [f'{sweep.SCOPE}=local']))[3] == \
        'global'
    with pytest.raises(ValueError, match='not part of the sweep'):
        sweep.cell_of(_run(0, 2, 0.1, ['optim_wrapper.optimizer.lr=1']))


def test_the_table_gives_the_hand_computed_figures():
    batch = ['train_dataloader.batch_size=4']
    local = batch + [f'{sweep.SCOPE}=local']
    runs = [_run(0, 1, 0.25, speed=0.3)]
    runs += [
        _run(s, 2, v, batch, gap=g, spread=0.02, speed=0.2)
        for s, v, g in ((0, 0.30, -0.01), (1, 0.32, -0.02), (2, 0.34, -0.03))
    ]
    runs += [
        _run(s, 2, v, local, gap=-0.04, spread=0.05, speed=0.1)
        for s, v in ((0, 0.28), (1, 0.30))
    ]
    lines = sweep.sweep_table(runs, CONFIG).splitlines()
    assert lines[4] == ('| 1 x 8 | random | 0.250 (0.250) | the same (one '
                        'process) | - | - | - | 0.300 |')
    # global: mean 0.32, std 0.02; per-process: mean 0.29, std 0.0141;
    # difference 0.03, se = sqrt(0.02^2 / 3 + 0.0141^2 / 2) = 0.0153
    assert lines[5] == ('| 2 x 4 | random | 0.320 +- 0.020 (0.300, 0.320, '
                        '0.340) | 0.290 +- 0.014 (0.280, 0.300) | +0.030 '
                        '(+2.0 se) | -0.020 / -0.040 | 0.020 / 0.050 | '
                        '0.200 / 0.100 |')
    assert len(lines) == 6


@pytest.mark.parametrize('swept, readmes', [
    (SWEPT, ('docs/results.md', 'configs/ap_loss/README.md')),
    ([ALRP], ('configs/alrp/README.md', )),
])
def test_the_readmes_show_the_recorded_sweep(swept, readmes):
    """The sweep blocks of docs/results.md and of the AP-loss and aLRP
    READMEs are what the tool prints from the results file (regenerate
    with make results-table)."""
    kept, _ = current_runs(
        load_runs(RESULTS), [osp.join(ROOT, c) for c in swept])
    want = '\n\n'.join(sweep.sweep_table(kept, c) for c in swept)
    for readme in readmes:
        with open(osp.join(ROOT, readme)) as f:
            text = f.read()
        block = text.split(sweep.SWEEP_START)[1].split(sweep.SWEEP_END)[0]
        assert block.strip() == want.strip(), readme


def test_the_picture_is_written(tmp_path):
    batch = ['train_dataloader.batch_size=4']
    runs = [_run(0, 1, 0.25), _run(0, 2, 0.3, batch)]
    runs.append(_run(0, 2, 0.28, batch + [f'{sweep.SCOPE}=local']))
    path = tmp_path / 'sweep.png'
    sweep.plot(runs, [CONFIG], str(path))
    assert path.read_bytes()[:4] == b'\x89PNG'
    with pytest.raises(ValueError, match='no recorded runs'):
        sweep.plot(runs, [ALRP], str(tmp_path / 'none.png'))
    assert sweep.sweep_table(runs,
                             ALRP) == f'`{ALRP}`\n\nNo recorded runs yet.'
