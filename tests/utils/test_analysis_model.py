"""mmdet_lossplus.utils.analysis_model: the analysis tools' model and loader
are reproducible, checkpoints load their network strictly and their loss
state leniently, and bad arguments are refused."""
import pytest
import torch
from conftest import DEMO_CONFIG

from mmdet_lossplus.utils import build_for_analysis, load_network_weights


def _first_batch(loader):
    return next(iter(loader))


def test_same_seed_same_weights_and_batches(tiny_data):
    a, loader_a = build_for_analysis(DEMO_CONFIG, seed=1, data_root=tiny_data)
    b, loader_b = build_for_analysis(DEMO_CONFIG, seed=1, data_root=tiny_data)
    c, _ = build_for_analysis(DEMO_CONFIG, seed=2, data_root=tiny_data)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    w = 'bbox_head.retina_cls.weight'
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])
    batch_a, batch_b = _first_batch(loader_a), _first_batch(loader_b)
    assert [s.img_id for s in batch_a['data_samples']] == \
        [s.img_id for s in batch_b['data_samples']]
    assert loader_a.num_workers == 0


def test_loader_options_and_split(tiny_data):
    _, loader = build_for_analysis(
        DEMO_CONFIG,
        data_root=tiny_data,
        loader_options=dict(
            batch_size=1, sampler=dict(type='DefaultSampler', shuffle=False)))
    assert len(loader) == 16  # tiny_data: 16 training images, one a batch
    assert len(_first_batch(loader)['data_samples']) == 1
    _, val = build_for_analysis(DEMO_CONFIG, data_root=tiny_data, split='val')
    assert len(val.dataset) == 6
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        build_for_analysis(DEMO_CONFIG, split='test')


def test_checkpoint_weights_load_and_loss_state_is_lenient(
        tmp_path, tiny_data):
    trained, _ = build_for_analysis(DEMO_CONFIG, seed=5, data_root=tiny_data)
    state = {
        'module.' + k: v
        for k, v in trained.state_dict().items()  # as a DDP wrapper saves
    }
    state['bbox_head.loss_cls._extra_state'] = torch.zeros(3)  # loss state
    path = str(tmp_path / 'w.pth')
    torch.save(dict(meta={}, state_dict=state), path)
    loaded, _ = build_for_analysis(DEMO_CONFIG, path, data_root=tiny_data)
    for (k, va), vb in zip(trained.state_dict().items(),
                           loaded.state_dict().values()):
        assert torch.equal(va, vb), k

    del state['module.bbox_head.retina_cls.weight']
    torch.save(dict(meta={}, state_dict=state), path)
    with pytest.raises(ValueError, match='retina_cls.weight'):
        load_network_weights(loaded, path)


def test_a_loaded_config_is_used_and_left_unchanged(tiny_data):
    from mmengine.config import Config
    cfg = Config.fromfile(DEMO_CONFIG)
    before = cfg.pretty_text
    model, loader = build_for_analysis(
        cfg, data_root=tiny_data, loader_options=dict(batch_size=2))
    assert cfg.pretty_text == before
    assert len(_first_batch(loader)['data_samples']) == 2
    assert model.bbox_head.num_classes == cfg.model.bbox_head.num_classes
