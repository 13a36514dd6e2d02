from .prediction_gallery import PredictionGalleryHook

__all__ = ['PredictionGalleryHook']
