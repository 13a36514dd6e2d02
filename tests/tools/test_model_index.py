"""tools/analysis_tools/model_index.py: the committed metafiles and
model-index.yml are what the tool writes from results/demo_runs.jsonl
(every metric equals the results file), every config is listed and
exists (tests/tools/test_loss_configs.py builds each one)."""
import glob
import json
import os.path as osp

import pytest
import yaml
from conftest import ROOT, load_tool

from mmdet_lossplus_tools.results.store import RESULTS, load_runs


def _tool():
    return load_tool('analysis_tools', 'model_index.py')


def test_committed_files_are_up_to_date():
    assert _tool().main(['--check']) == []


def test_the_check_catches_a_changed_result(tmp_path):
    """A results file whose mAP differs from the committed metafiles makes
    --check fail and name the metafile of that config only."""
    tool = _tool()
    runs = load_runs(RESULTS)
    first = next(r for r in runs if r['config'].startswith('configs/fcos/')
                 and r['gpus'] == 1 and 'options' not in r)
    changed = [
        dict(r, bbox_mAP=r['bbox_mAP'] + 0.25) if r is first else r
        for r in runs
    ]
    results = tmp_path / 'runs.jsonl'
    results.write_text('\n'.join(json.dumps(r) for r in changed))
    with pytest.raises(SystemExit, match='configs/fcos/metafile.yml'):
        tool.main(['--check', '--results', str(results)])
    assert set(tool.render(str(results))) == set(tool.render(RESULTS))


def test_every_config_is_listed_once_and_exists():
    index = yaml.safe_load(open(osp.join(ROOT, 'model-index.yml')))
    named = []
    for meta in index['Import']:
        data = yaml.safe_load(open(osp.join(ROOT, meta)))
        collections = {c['Name'] for c in data['Collections']}
        for model in data['Models']:
            assert model['In Collection'] in collections
            assert osp.isfile(osp.join(ROOT, model['Config'])), model
            named.append(model['Config'])
    shipped = sorted(
        osp.relpath(p, ROOT)
        for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
        if '_base_' not in p)
    assert sorted(named) == shipped


def test_metrics_are_the_mean_over_recorded_seeds(tmp_path):
    config = 'configs/atss/atss_r18_fpn_demo.py'
    runs = [
        dict(
            config=config,
            seed=s,
            gpus=g,
            bbox_mAP=v,
            bbox_mAP_50=v,
            bbox_mAP_75=v)
        for s, g, v in ((0, 1, 0.1), (1, 1, 0.2), (0, 2, 0.9))
    ]
    results = tmp_path / 'runs.jsonl'
    results.write_text('\n'.join(json.dumps(r) for r in runs))
    files = _tool().render(str(results))
    atss = yaml.safe_load(files['configs/atss/metafile.yml'])
    model = [m for m in atss['Models'] if m['Config'] == config][0]
    result, = model['Results']
    # one-process seeds only: (0.1 + 0.2) / 2
    assert result['Metrics']['bbox_mAP'] == pytest.approx(0.15)
    assert result['Seeds'] == [0, 1]
    assert result['Command'].endswith(config + ' --seeds 0 1')
    others = [m for m in atss['Models'] if m['Config'] != config]
    assert all('Results' not in m for m in others)
    # Rank & Sort configs form their own collection with their paper
    rs = [m for m in atss['Models'] if 'ranksort' in m['Name']]
    assert rs and all(m['In Collection'] == 'Rank & Sort Loss' for m in rs)
