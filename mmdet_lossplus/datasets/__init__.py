from .coco_with_angles import (CocoDatasetWithAngles, LoadAngles,
                               PackDetInputsWithAngles)
from .digits_demo import CLASSES, generate_digits_coco

__all__ = [
    'CLASSES', 'CocoDatasetWithAngles', 'LoadAngles',
    'PackDetInputsWithAngles', 'generate_digits_coco'
]
