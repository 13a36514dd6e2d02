"""tools/analysis_tools/loss_scale.py: the same config measured twice gives
the same numbers (same weights, same batch), and a loss's reported gradient
norm is the norm of its gradient at the head's output layer."""
import os.path as osp

from conftest import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs/retinanet/retinanet_r18_fpn_demo.py')


def _tool():
    return load_tool('analysis_tools', 'loss_scale.py')


def test_measurements_are_reproducible_and_per_branch(tiny_data):
    tool = _tool()
    a = tool.measure(CONFIG, 0, 1, tiny_data)
    b = tool.measure(CONFIG, 0, 1, tiny_data)
    assert a == b
    rows = {name: rest for name, *rest in a}
    assert set(rows) == {'loss_cls', 'loss_bbox'}
    value, cls_norm, reg_norm = rows['loss_cls']
    assert value > 0 and cls_norm > 0 and reg_norm == 0.0
    value, cls_norm, reg_norm = rows['loss_bbox']
    assert cls_norm == 0.0 and reg_norm > 0


def test_a_checkpoint_of_the_initial_weights_measures_the_same(
        tmp_path, tiny_data):
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_lossplus.registry import MODELS
    tool = _tool()
    torch.manual_seed(0)  # as measure() does before building
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
        model.init_weights()
    checkpoint = str(tmp_path / 'init.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), checkpoint)
    assert tool.measure(CONFIG, 0, 1, tiny_data, checkpoint) == \
        tool.measure(CONFIG, 0, 1, tiny_data)
