# mmdet's runtime with CPU-friendly logging, iteration-based checkpoints,
# the global gradient-norm histograms of the losses and the ranking
# statistics of the scores (logged every 50 iterations, plotted to
# gradient_histograms.png and ranking_stats.png), a cross-rank check of the
# losses' state, and the picture of predictions written after training.
_base_ = 'mmdet::_base_/default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(
        type='CheckpointHook', interval=2000, by_epoch=False,
        max_keep_ckpts=2),
    visualization=dict(type='DetVisualizationHook', draw=False))
log_processor = dict(type='LogProcessor', window_size=25, by_epoch=False)
custom_hooks = [
    dict(type='mmdet_lossplus.PredictionGalleryHook', num_images=8),
    dict(type='mmdet_lossplus.GradientHistogramHook', interval=50),
    # losses with running state (GHM's EMA) must agree on every rank
    dict(type='mmdet_lossplus.LossStateCheckHook', interval=50),
    # global batch AP of the scores vs each rank's own ranking
    dict(type='mmdet_lossplus.RankingStatsHook', interval=50)
]
randomness = dict(seed=0)
env_cfg = dict(cudnn_benchmark=False)
