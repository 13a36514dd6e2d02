from .digits_demo import CLASSES, generate_digits_coco

__all__ = ['CLASSES', 'generate_digits_coco']
