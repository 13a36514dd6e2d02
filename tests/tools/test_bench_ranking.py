"""The ranking benchmark measures what it says: its O(P*N) loop (the
authors' algorithm) gives the modules' gradients, and its communication
formula is what the 2-process worker counts."""
import os.path as osp

import pytest
import torch
from conftest import ROOT, load_tool, run_torchrun

BENCH = osp.join(ROOT, 'tools', 'benchmarks', 'bench_ranking_losses.py')


def _bench():
    return load_tool('benchmarks', 'bench_ranking_losses.py')


@pytest.mark.parametrize('name', ['ap', 'rs', 'alrp'])
def test_reference_loop_equals_the_module_gradient(name):
    bench = _bench()
    pred, labels, ious, loc = bench.make_batch(60, 6000, seed=1)
    loop = bench.reference_loop(name, pred, labels, ious, loc)
    grad = bench.module_step(name, pred, labels, ious, loc)
    torch.testing.assert_close(
        grad.reshape(-1).double(), loop, atol=1e-7, rtol=0)


def test_counted_communication_matches_the_formula():
    worker = osp.join(ROOT, 'tools', 'benchmarks', 'ranking_comm_worker.py')
    proc = run_torchrun([worker, '--num-pos=200', '--num-neg=20000'],
                        timeout=300)
    import json
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')][-1]
    counted = json.loads(line)
    for name, row in counted.items():
        assert row['received'] == row['formula_received'], (name, row)
        # counts table, positives (all-gathers), false positives (and
        # aLRP's localisation value: all-reduces)
        assert row['collectives'] == (4 if name == 'alrp' else 3)
