from .all_level_atss_head import AllLevelATSSHead, atss_centerness_target
from .all_level_fcos_head import AllLevelFCOSHead
from .all_level_retina_head import AllLevelRetinaHead
from .alrp_retina_head import aLRPRetinaHead
from .angle_retina_head import AngleRetinaHead
from .configurable_nms import ConfigurableNMSMixin, resolve_nms_cfg
from .global_batch import GlobalBatchHeadMixin, flatten_levels, join_levels
from .nms_heads import ConfigurableNMSATSSHead, ConfigurableNMSFCOSHead
from .rank_sort_atss_head import RankSortATSSHead

__all__ = [
    'AllLevelATSSHead', 'AllLevelFCOSHead', 'AllLevelRetinaHead',
    'AngleRetinaHead', 'ConfigurableNMSATSSHead', 'ConfigurableNMSFCOSHead',
    'ConfigurableNMSMixin', 'GlobalBatchHeadMixin', 'RankSortATSSHead',
    'aLRPRetinaHead', 'atss_centerness_target', 'flatten_levels',
    'join_levels', 'resolve_nms_cfg'
]
