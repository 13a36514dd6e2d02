from .gradient_histogram import (GradientHistogramHook, cls_gradient_counts,
                                 plot_gradient_histograms, reg_gradient_counts)
from .loss_state_check import LossStateCheckHook
from .prediction_gallery import PredictionGalleryHook

__all__ = [
    'GradientHistogramHook', 'LossStateCheckHook', 'PredictionGalleryHook',
    'cls_gradient_counts', 'plot_gradient_histograms', 'reg_gradient_counts'
]
