# AP-loss RetinaNet on the demo with half the demo schedule (1,000
# iterations), for the world-size sweep at a fixed global batch of 8
# (`make sweep`: 1 x 8, 2 x 4, 4 x 2, 8 x 1 images per process, global and
# per-process ranking, 3 seeds). Half, because 8 gloo processes on 2 cores
# run at ~0.4 s / iteration: the full schedule would not fit the sweep's
# 21 runs in one sitting. Compare rows of this config with each other only.
_base_ = '../retinanet_r18_fpn_aploss_demo.py'

max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=100,
        end=max_iters,
        T_max=max_iters - 100,
        eta_min_ratio=0.05)
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
