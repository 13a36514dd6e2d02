"""tools/analysis_tools/fp16_flush.py: the flush and subnormal shares on
hand-picked gradients, and a small end-to-end run."""
import pytest
import torch
from conftest import load_tool, run_py

flush = load_tool('analysis_tools', 'fp16_flush.py')


def test_flush_row_by_hand():
    # at S = 2^10: 1e-12 * 1024 ~ 1e-9 flushes (fp16's smallest subnormal
    # is 2^-24 ~ 6e-8), 1e-9 * 1024 ~ 1e-6 is subnormal, 1e-3 normal; the
    # zero gradient is not counted
    grad = torch.tensor([1e-12, 1e-9, 1e-3, 0.0])
    flushed, subnormal = flush.flush_row(grad, 10)
    assert flushed == pytest.approx(1 / 3)
    assert subnormal == pytest.approx(1 / 3)
    # at S = 2^16 the first survives as a subnormal (6.6e-8), the second
    # is normal (6.55e-5 > 2^-14)
    flushed, subnormal = flush.flush_row(grad, 16)
    assert flushed == 0 and subnormal == pytest.approx(1 / 3)


def test_runs_end_to_end():
    proc = run_py(['tools/analysis_tools/fp16_flush.py', '--entries', '80000'])
    assert '| GHM-C |' in proc.stdout and '| focal |' in proc.stdout
