"""Let a dense head's ``test_cfg`` name an NMS of ours.

mmcv's ``batched_nms`` resolves a string ``nms.type`` with ``eval`` inside
``mmcv.ops.nms``, so only mmcv's own ops (``'nms'``, ``'soft_nms'``) can be
named there. Heads with :class:`ConfigurableNMSMixin` turn
``nms=dict(type='mmdet_lossplus.diou_nms', iou_threshold=0.5, beta=1.0)``
into the function itself before calling ``batched_nms``, which accepts a
callable; mmcv is not patched.
"""
from typing import Optional

from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from ..functional.diou_nms import diou_nms
from ..registry import SCOPE, TASK_UTILS

TASK_UTILS.register_module('diou_nms', module=diou_nms)

MMCV_NMS_OPS = ('nms', 'soft_nms')


def resolve_nms_cfg(nms_cfg: Optional[dict]) -> Optional[dict]:
    """Copy of ``nms_cfg`` with a ``'mmdet_lossplus.<name>'`` type replaced
    by the registered function; other configs are returned unchanged.

    Raises:
        ValueError: the name has our scope but nothing is registered.
    """
    if nms_cfg is None or not isinstance(nms_cfg.get('type'), str):
        return nms_cfg
    name = nms_cfg['type']
    if not name.startswith(SCOPE + '.'):
        return nms_cfg
    fn = TASK_UTILS.get(name)
    if fn is None or not callable(fn):
        raise ValueError(
            f'test_cfg.nms.type {name!r} is not a registered NMS; allowed: '
            f"'{SCOPE}.diou_nms' or mmcv's {MMCV_NMS_OPS}")
    return ConfigDict({**nms_cfg, 'type': fn})


class ConfigurableNMSMixin:
    """Mix into an mmdet dense head (before the head class) so its
    ``test_cfg.nms`` may name an NMS registered in our ``TASK_UTILS``."""

    def _bbox_post_process(self,
                           results: InstanceData,
                           cfg: ConfigDict,
                           rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        if with_nms and cfg.get('nms') is not None:
            cfg = ConfigDict({**cfg, 'nms': resolve_nms_cfg(cfg['nms'])})
        return super()._bbox_post_process(  # type: ignore[misc] # mixin
            results, cfg, rescale, with_nms, img_meta)
