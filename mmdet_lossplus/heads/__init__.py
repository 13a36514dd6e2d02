from .all_level_retina_head import AllLevelRetinaHead, flatten_levels

__all__ = ['AllLevelRetinaHead', 'flatten_levels']
