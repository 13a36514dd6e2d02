"""mmengine checkpoints load under torch >= 2.6; torch's default stays."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import mmdet_lossplus  # noqa: F401


def _full_checkpoint(path):
    # What mmengine writes: tensors plus pickled python objects.
    torch.save(
        dict(
            meta=dict(epoch=1, seed=np.int64(3)),
            state_dict=dict(w=torch.arange(3.)),
            message_hub=dict(log_scalars=dict(
                loss=HistoryBuffer([1.0], [1])))), path)


def test_mmengine_loads_full_checkpoints(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _full_checkpoint(path)
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(3.))
    assert ckpt['meta']['seed'] == 3
    assert isinstance(ckpt['message_hub']['log_scalars']['loss'],
                      HistoryBuffer)


def test_plain_torch_load_keeps_weights_only_default(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _full_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_patch_is_idempotent():
    import mmengine.runner.checkpoint as ckpt_module

    from mmdet_lossplus.utils import enable_trusted_checkpoint_loading
    first = ckpt_module.torch
    enable_trusted_checkpoint_loading()
    assert ckpt_module.torch is first
    assert ckpt_module.torch.Tensor is torch.Tensor
