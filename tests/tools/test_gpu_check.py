"""tools/gpu_check.py runs end to end (on the CPU, small: a smoke test of
the script; the figures that count come from a GPU) without importing
mmcv, mmengine or mmdet, and every check passes."""
import json

from conftest import run_py


def test_gpu_check_runs_on_cpu_without_the_mm_stack(tmp_path):
    out = tmp_path / 'check.json'
    guard = ('import sys, runpy; '
             "sys.modules.update(mmcv=None, mmdet=None); "
             "sys.argv = ['tools/gpu_check.py', '--device', 'cpu', "
             f"'--entries', '40000', '--rounds', '1', '--out', '{out}']; "
             "runpy.run_path('tools/gpu_check.py', run_name='__main__')")
    proc = run_py(['-c', guard], timeout=600)
    assert '| parity fp32 vs CPU fp64 | aLRP | yes |' in proc.stdout
    rows = json.loads(out.read_text())['rows']
    assert {r['loss'] for r in rows} >= {'GHM-C', 'AP-loss', 'aLRP'}
    assert all(r['ok'] is not False for r in rows), rows
