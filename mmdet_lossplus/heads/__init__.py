from .all_level_retina_head import AllLevelRetinaHead, flatten_levels
from .configurable_nms import ConfigurableNMSMixin, resolve_nms_cfg

__all__ = [
    'AllLevelRetinaHead', 'ConfigurableNMSMixin', 'flatten_levels',
    'resolve_nms_cfg'
]
