from .gradient_histogram import (GradientHistogramHook, cls_gradient_counts,
                                 plot_gradient_histograms, reg_gradient_counts)
from .prediction_gallery import PredictionGalleryHook

__all__ = [
    'GradientHistogramHook', 'PredictionGalleryHook', 'cls_gradient_counts',
    'plot_gradient_histograms', 'reg_gradient_counts'
]
