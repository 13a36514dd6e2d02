"""tools/analysis_tools/demo_results.py: the results file and its table
(the training itself is what tools/demo.py and the end-to-end tests run)."""
import importlib.util
import json
import os.path as osp

import pytest
from conftest import ROOT


def _load_tool():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'demo_results.py')
    spec = importlib.util.spec_from_file_location('demo_results', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert '| 0.182 | 0.282 | 0.182 | 0.150 | abc1234 |' in lines[2]
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
