"""mmdet's ATSS and FCOS heads whose ``test_cfg.nms`` may name DIoU-NMS.

Same arguments, parameters, losses and predictions as mmdet's classes
(checkpoints load strictly both ways); only ``test_cfg.nms`` additionally
accepts ``dict(type='mmdet_lossplus.diou_nms', iou_threshold=..., beta=...)``
(see :mod:`~mmdet_lossplus.heads.configurable_nms`). The DIoU paper
(Zheng et al., AAAI 2020) evaluates DIoU-NMS on exactly these
one-stage detectors.
"""
from mmdet.models.dense_heads import ATSSHead, FCOSHead

from ..registry import MODELS
from .configurable_nms import ConfigurableNMSMixin


@MODELS.register_module()
class ConfigurableNMSATSSHead(ConfigurableNMSMixin, ATSSHead):
    """mmdet's ``ATSSHead`` with a configurable NMS (scores are multiplied
    by the centerness before NMS, as in mmdet)."""


@MODELS.register_module()
class ConfigurableNMSFCOSHead(ConfigurableNMSMixin, FCOSHead):
    """mmdet's ``FCOSHead`` with a configurable NMS (scores are multiplied
    by the centerness before NMS, as in mmdet)."""
