"""Checkpoint loading is safe by default: mmengine/mmdet checkpoints load
with torch's weights_only unpickler plus an allow-list (torch >= 2.5) or
our own allow-list unpickler (older torch; forced here on the newer one
too), anything else is refused, full unpickling is an explicit opt-in, and
importing the plugin changes nothing. Every test runs on both paths."""
import importlib
import io
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from checkpoint_helpers import crafted_checkpoint
from mmengine.logging import HistoryBuffer

import mmdet_lossplus  # noqa: F401
from mmdet_lossplus.functional.torch_compat import TORCH_VERSION
from mmdet_lossplus.utils import (TRUST_ENV, UntrustedCheckpointError,
                                  checkpoint_loading, trust_from_env)

# the module (the package exports its context manager under its name)
loading_module = importlib.import_module(
    'mmdet_lossplus.utils.checkpoint_loading')
OWN = 'own-unpickler'


@pytest.fixture(autouse=True, params=['torch-safe-globals', OWN])
def loader(request, monkeypatch):
    """Which allow-list mechanism loads: torch's (>= 2.5) or ours (the
    path of older torch)."""
    if request.param == OWN:
        monkeypatch.setattr(loading_module, 'FORCE_OWN_UNPICKLER', True)
    elif not hasattr(torch.serialization, 'safe_globals'):
        pytest.skip(f'torch {torch.__version__} has no safe_globals: only '
                    'the own unpickler runs here')
    return request.param


def _load(path):
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(path, map_location='cpu')


def test_import_changes_nothing():
    import mmengine.runner.checkpoint as ckpt_module
    from mmengine.utils.dl_utils import load_url
    load_state_dict = ckpt_module.load_state_dict
    assert ckpt_module.torch is torch
    assert ckpt_module.load_url is load_url
    # and the context restores all three
    with checkpoint_loading():
        assert ckpt_module.torch is not torch
        assert ckpt_module.load_state_dict is not load_state_dict
    assert ckpt_module.torch is torch
    assert ckpt_module.load_url is load_url
    assert ckpt_module.load_state_dict is load_state_dict


def test_a_key_mismatch_goes_to_the_run_log(tmp_path, loader):
    """What the Runner does for load_from (no logger passed): the
    unexpected and missing keys reach the current logger's file."""
    from mmengine.logging import MMLogger
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    log_file = tmp_path / 'run.log'
    logger = MMLogger.get_instance(
        f'ckpt_log_{loader}', log_file=str(log_file))
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    state = dict(state_dict={
        '0.weight': torch.zeros(2, 2),
        'centerness.weight': torch.zeros(1)
    })
    with checkpoint_loading():
        _load_checkpoint_to_model(model, state)
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    assert 'unexpected key in source state_dict: centerness.weight' in text
    assert 'missing keys in source state_dict: 0.bias' in text


def test_crafted_checkpoint_refused_under_the_policy(tmp_path):
    path = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(path, marker)
    with checkpoint_loading():
        with pytest.raises(UntrustedCheckpointError) as info:
            _load(path)
    message = str(info.value)
    assert path in message
    assert 'posix.mkdir' in message  # the refused global
    assert '--trust-checkpoint' in message and TRUST_ENV in message
    assert not osp.exists(marker)


@pytest.mark.skipif(
    TORCH_VERSION < (2, 6),
    reason='torch < 2.6 unpickles fully by default: without the context '
    'mmengine gets torch\'s default, which the plugin does not change')
def test_crafted_checkpoint_refused_without_the_context(tmp_path):
    # the plugin is imported: mmengine still uses torch's safe default
    path = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(path, marker)
    with pytest.raises(pickle.UnpicklingError):
        _load(path)
    assert not osp.exists(marker)


def test_opt_in_unpickles_fully(tmp_path, monkeypatch):
    path = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(path, marker)
    with pytest.warns(UserWarning, match='arbitrary code'):
        with checkpoint_loading(trust=True):
            _load(path)
    assert osp.isdir(marker)
    os.rmdir(marker)
    monkeypatch.setenv(TRUST_ENV, '1')
    with pytest.warns(UserWarning):
        with checkpoint_loading():
            _load(path)
    assert osp.isdir(marker)


def _zoo_style(path, legacy=False):
    """What mmdet model-zoo and mmengine files hold besides tensors."""
    obj = dict(
        meta=dict(
            config='model = dict(type="RetinaNet")\n',
            dataset_meta=dict(
                classes=('person', 'car'),
                palette=[(220, 20, 60), (119, 11, 32)]),
            seed=np.int64(7),
            bbox_mAP=np.float64(0.365),
            flags=np.array([1, 2, 3], dtype=np.int32),
            mmengine_version='0.10.7',
            epoch=12,
            iter=90000),
        state_dict=dict(w=torch.arange(4.)),
        message_hub=dict(
            log_scalars=dict(loss=HistoryBuffer([1.0, 0.5], [1, 1])),
            runtime_info=dict(epoch=12, iter=90000),
            resumed_keys=dict(epoch=True)),
        optimizer=dict(
            state={0: dict(step=torch.tensor(3.), exp_avg=torch.ones(4))},
            param_groups=[dict(lr=0.01, betas=(0.9, 0.999), params=[0])]),
        param_schedulers=[
            dict(by_epoch=False, last_step=5, base_values=[1e-3])
        ])
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return obj


def test_zoo_style_checkpoint_loads_by_default(tmp_path):
    path = str(tmp_path / 'zoo.pth')
    _zoo_style(path)
    with checkpoint_loading():
        ckpt = _load(path)
    meta = ckpt['meta']
    assert meta['dataset_meta']['classes'] == ('person', 'car')
    assert meta['seed'] == 7 and isinstance(meta['seed'], np.int64)
    assert meta['bbox_mAP'] == pytest.approx(0.365)
    assert meta['flags'].tolist() == [1, 2, 3]
    buf = ckpt['message_hub']['log_scalars']['loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == 0.75
    assert ckpt['optimizer']['param_groups'][0]['betas'] == (0.9, 0.999)
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(4.))


@pytest.mark.parametrize('spelling', [b'numpy.core', b'numpy._core'])
def test_both_numpy_spellings_load(tmp_path, spelling):
    # files written under numpy 1 name numpy.core.multiarray.*, under
    # numpy 2 numpy._core.multiarray.*: both load under either numpy
    path = str(tmp_path / 'old.pth')
    _zoo_style(path, legacy=True)
    with open(path, 'rb') as f:
        data = f.read()
    spelt = data
    for name in (b'numpy.core', b'numpy._core'):
        spelt = spelt.replace(name + b'.multiarray\n',
                              spelling + b'.multiarray\n')
    assert spelling + b'.multiarray\n' in spelt
    import mmengine.runner.checkpoint as ckpt_module
    with checkpoint_loading():  # what mmengine's ceph/pavi loaders call
        ckpt = ckpt_module.torch.load(io.BytesIO(spelt), map_location='cpu')
    assert ckpt['meta']['seed'] == 7


@pytest.mark.skipif(
    not hasattr(torch.serialization, 'add_safe_globals'),
    reason='torch < 2.4 has no user safe globals to keep')
def test_user_safe_globals_survive(tmp_path):

    class Mine:
        pass

    torch.serialization.add_safe_globals([Mine, HistoryBuffer])
    try:
        path = str(tmp_path / 'zoo.pth')
        _zoo_style(path)
        with checkpoint_loading():
            _load(path)
        assert Mine in torch.serialization.get_safe_globals()
        assert HistoryBuffer in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()


def test_url_loads_follow_the_policy(tmp_path, loader):
    # mmengine's http(s) loader goes through load_url; a file:// URL runs
    # the same torch.hub path without a network
    import mmengine.runner.checkpoint as ckpt_module
    path = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(path, marker)
    with checkpoint_loading():
        with pytest.raises(UntrustedCheckpointError, match='evil.pth'):
            ckpt_module.load_url(
                'file://' + path, model_dir=str(tmp_path / 'hub'))
    assert not osp.exists(marker)
    # a plain state dict loads (torch's own allow-list on the old path)
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=dict(w=torch.arange(3.))), good)
    with checkpoint_loading():
        ckpt = ckpt_module.load_url(
            'file://' + good, model_dir=str(tmp_path / 'hub2'))
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(3.))


def test_own_unpickler_names_the_refused_global(tmp_path):
    path = str(tmp_path / 'evil.pth')
    crafted_checkpoint(path, str(tmp_path / 'pwned'))
    with open(path, 'rb') as f:
        data = f.read()
    with pytest.raises(UntrustedCheckpointError, match='posix.mkdir'):
        loading_module.load_checkpoint_file(
            torch.load, io.BytesIO(data), trust=False)
    assert not osp.exists(str(tmp_path / 'pwned'))


@pytest.mark.parametrize('value, expected', [('1', True), ('TRUE', True),
                                             ('yes', True), ('0', False),
                                             ('', False), ('off', False)])
def test_trust_from_env(value, expected):
    assert trust_from_env({TRUST_ENV: value}) is expected
    assert trust_from_env({}) is False


def test_trust_from_env_rejects_other_values():
    with pytest.raises(ValueError, match=TRUST_ENV):
        trust_from_env({TRUST_ENV: 'maybe'})
    with pytest.raises(TypeError, match='trust'):
        with checkpoint_loading(trust='yes'):
            pass


class _GetattrPayload:
    """Reaches ``ndarray.tofile`` through ``getattr``: writes a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (np.zeros(1).tofile, (self.path, ))


def test_getattr_is_allowed_for_history_buffer_methods_only(tmp_path):
    path = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'written')
    torch.save(dict(meta=_GetattrPayload(marker)), path)
    with checkpoint_loading():
        with pytest.raises(UntrustedCheckpointError, match='getattr'):
            _load(path)
    assert not osp.exists(marker)


def test_init_cfg_pretrained_follows_the_policy(tmp_path):
    from mmengine.model import BaseModule
    from torch import nn

    class Net(BaseModule):

        def __init__(self, checkpoint):
            super().__init__(
                init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
            self.fc = nn.Linear(2, 2)

    weights = dict(
        weight=torch.tensor([[1., 2.], [3., 4.]]), bias=torch.tensor([5., 6.]))
    path = str(tmp_path / 'pretrained.pth')
    torch.save(
        dict(
            meta=dict(seed=np.int64(1)),
            state_dict={
                f'fc.{k}': v
                for k, v in weights.items()
            },
            message_hub=dict(log_scalars=dict(
                loss=HistoryBuffer([1.0], [1])))), path)
    net = Net(path)
    with checkpoint_loading():
        net.init_weights()
    assert torch.equal(net.fc.weight.data, weights['weight'])
    assert torch.equal(net.fc.bias.data, weights['bias'])
    # a crafted file named by init_cfg is refused the same way
    evil = str(tmp_path / 'evil.pth')
    marker = str(tmp_path / 'pwned')
    crafted_checkpoint(evil, marker)
    with checkpoint_loading():
        with pytest.raises(UntrustedCheckpointError, match='evil.pth'):
            Net(evil).init_weights()
    assert not osp.exists(marker)
