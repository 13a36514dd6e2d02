"""mmdet_lossplus/extras.py: optional dependencies fail clearly, and
plotting switches no global matplotlib state."""
import importlib

import matplotlib
import pytest
import torch

from mmdet_lossplus import extras
from mmdet_lossplus.hooks.gradient_histogram import plot_gradient_histograms
from mmdet_lossplus.hooks.ranking_stats import plot_ranking_stats


def test_missing_extra_names_the_install_command(monkeypatch):
    real = importlib.import_module

    def without_sklearn(name, *args):
        if name.split('.')[0] == 'sklearn':
            raise ModuleNotFoundError(f"No module named '{name}'")
        return real(name, *args)

    monkeypatch.setattr(importlib, 'import_module', without_sklearn)
    with pytest.raises(ImportError) as err:
        extras.require('sklearn.datasets', 'the digits demo data')
    message = str(err.value)
    assert 'the digits demo data needs scikit-learn' in message
    assert 'pip install "mmdet_lossplus[demo]"' in message
    assert isinstance(err.value.__cause__, ModuleNotFoundError)


def test_present_module_is_returned():
    assert extras.require('matplotlib', 'plots') is matplotlib


def test_plots_leave_the_backend_alone(tmp_path, monkeypatch):
    """The hooks' plots draw through a Figure and its Agg canvas: the
    process's backend (what a notebook or GUI user chose) is untouched."""
    calls = []
    monkeypatch.setattr(matplotlib, 'use', lambda *a, **k: calls.append(a))
    before = matplotlib.rcParams['backend']
    counts = torch.tensor([5.0, 0.0, 3.0, 1.0], dtype=torch.float64)
    plot_gradient_histograms([dict(iter=1, cls=counts)],
                             str(tmp_path / 'hist.png'))
    plot_ranking_stats([dict(iter=1, global_ap=0.5, world_size=1)],
                       str(tmp_path / 'rank.png'))
    assert calls == []
    assert matplotlib.rcParams['backend'] == before
    for name in ('hist.png', 'rank.png'):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 1000
