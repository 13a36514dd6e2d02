"""The controlled experiment of tools/analysis_tools/multibin_toy.py: on a
bimodal angle target, single-mode regression lands between the modes and
multi-bin recovers one of them."""
import json

from conftest import run_py


def test_multibin_recovers_a_mode_where_l2_and_sincos_collapse(tmp_path):
    out = tmp_path / 'toy.json'
    run_py([
        'tools/analysis_tools/multibin_toy.py', '--steps', '1000', '--tasks',
        'bimodal', 'wrap', '--methods', 'l2', 'sincos', 'multibin', '--json',
        str(out)
    ])
    r = {(x['task'], x['method']): x for x in json.loads(out.read_text())}
    # between two modes 180 degrees apart: about 90 degrees from both
    assert r['bimodal', 'l2']['mae_deg'] > 60
    # the (sin, cos) mean of opposite modes is ~0: a random direction
    assert r['bimodal', 'sincos']['mae_deg'] > 25
    assert r['bimodal', 'multibin']['mae_deg'] < 10
    assert r['bimodal', 'multibin']['within_10deg'] > 0.8
    # one mode across +-pi: multi-bin is as good as (sin, cos)
    assert r['wrap', 'multibin']['mae_deg'] < 5
    assert r['wrap', 'sincos']['mae_deg'] < 5
