"""tools/analysis_tools/grad_density.py: the reweighting curves by hand and
by autograd, and the tool end to end on a checkpoint."""
import math
import os.path as osp

import pytest
import torch
from conftest import DEMO_CONFIG, load_tool, run_py


def _tool():
    return load_tool('analysis_tools', 'grad_density.py')


def test_focal_curve_by_hand_and_by_autograd():
    tool = _tool()
    g = torch.tensor([0.5])
    want = 2 * 0.25 * 0.5 * math.log(2) + 0.125
    assert tool.focal_gradient_norm(g).item() == pytest.approx(want)
    # |d/dx| of -p^2 log(1 - p), p = sigmoid(x), for a negative (g = p)
    x = torch.linspace(-4, 4, 17, dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(x)
    (-(p**2) * torch.log1p(-p)).sum().backward()
    assert torch.allclose(
        tool.focal_gradient_norm(p.detach()), x.grad.abs(), rtol=1e-6)


def test_ghm_curve_is_identity_for_a_uniform_density():
    tool = _tool()
    counts = torch.full((10, ), 7.0, dtype=torch.float64)
    centres = (torch.arange(10, dtype=torch.float64) + 0.5) / 10
    assert torch.allclose(tool.ghm_gradient_norm(counts), centres)
    counts[3] = 0  # empty bins get no weight, the others N / (count * 9)
    got = tool.ghm_gradient_norm(counts)
    assert got[3] == 0
    assert got[0].item() == pytest.approx(0.05 * 63 / (7 * 9))


def test_tool_runs_on_a_checkpoint(tmp_path, tiny_data):
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_lossplus.registry import MODELS
    register_all_modules()
    cfg = Config.fromfile(DEMO_CONFIG)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = str(tmp_path / 'density.png')
    proc = run_py([
        'tools/analysis_tools/grad_density.py', DEMO_CONFIG, ckpt,
        '--num-images', '4', '--out', out, '--data-root', tiny_data
    ])
    assert 'logits; g < 0.1:' in proc.stdout
    assert '4/4' in proc.stdout  # the progress bar reached the end
    assert osp.getsize(out) > 5000
