from .all_level_retina_head import AllLevelRetinaHead, flatten_levels
from .angle_retina_head import AngleRetinaHead
from .configurable_nms import ConfigurableNMSMixin, resolve_nms_cfg
from .nms_heads import ConfigurableNMSATSSHead, ConfigurableNMSFCOSHead

__all__ = [
    'AllLevelRetinaHead', 'AngleRetinaHead', 'ConfigurableNMSATSSHead',
    'ConfigurableNMSFCOSHead', 'ConfigurableNMSMixin', 'flatten_levels',
    'resolve_nms_cfg'
]
