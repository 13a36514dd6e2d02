from conftest import DEMO_CONFIG
from mmengine.config import Config

from mmdet_lossplus.utils import adapt_cfg_to_device, set_data_root


def test_set_data_root_moves_datasets_and_evaluators():
    cfg = Config.fromfile(DEMO_CONFIG)
    set_data_root(cfg, '/x/y')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root == '/x/y/'
    assert cfg.val_evaluator.ann_file == '/x/y/annotations/val.json'
    assert cfg.test_evaluator.ann_file == '/x/y/annotations/val.json'


def test_cpu_ddp_gets_device_ids_none_and_gloo():
    cfg = Config.fromfile(DEMO_CONFIG)
    adapt_cfg_to_device(cfg, 'pytorch', cuda=False)
    # the settings of mmengine's own GPU wrapper but the device ids
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=False)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.find_unused_parameters = True
    adapt_cfg_to_device(cfg, 'pytorch', cuda=False)
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


def test_the_gpu_wrapper_settings_are_mmengines():
    # what the CPU wrapper copies: mmengine's default GPU wrapper
    import inspect

    from mmengine.runner import Runner
    source = inspect.getsource(Runner.wrap_model)
    assert 'broadcast_buffers=False' in source
    assert "find_unused_parameters = self.cfg.get(" in source


def test_cuda_or_single_process_configs_are_untouched():
    for launcher, cuda in (('pytorch', True), ('none', False)):
        cfg = Config.fromfile(DEMO_CONFIG)
        before = cfg.to_dict()
        adapt_cfg_to_device(cfg, launcher, cuda=cuda)
        assert cfg.to_dict() == before
