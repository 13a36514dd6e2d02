from .gradient_histogram import (GradientHistogramHook, cls_gradient_counts,
                                 plot_gradient_histograms, reg_gradient_counts)
from .loss_inputs import loss_call_args, recording_loss_inputs
from .loss_state_check import LossStateCheckHook
from .prediction_gallery import PredictionGalleryHook
from .ranking_stats import RankingStatsHook, batch_ap, plot_ranking_stats
from .skipped_steps import SkippedStepRollbackHook

__all__ = [
    'GradientHistogramHook', 'LossStateCheckHook', 'PredictionGalleryHook',
    'RankingStatsHook', 'SkippedStepRollbackHook', 'batch_ap',
    'plot_ranking_stats', 'cls_gradient_counts', 'loss_call_args',
    'plot_gradient_histograms', 'recording_loss_inputs', 'reg_gradient_counts'
]
