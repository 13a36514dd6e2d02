# aLRP-RetinaNet on the demo with half the demo schedule (1,000
# iterations), for the world-size sweep at a fixed global batch of 8
# (`make sweep-alrp`: 1 x 8 and 4 x 2 images per process, global and
# per-process ranking, 3 seeds), the AP-loss sweep's schedule
# (configs/ap_loss/sweep), so that the two sweeps compare. SB is
# re-estimated every 100 iterations: a tenth of the schedule, as in the
# demo config. Compare rows of this config with each other only.
_base_ = '../retinanet_r18_fpn_alrp_demo.py'

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
model = dict(bbox_head=dict(loss_cls=dict(sb_interval=100)))
