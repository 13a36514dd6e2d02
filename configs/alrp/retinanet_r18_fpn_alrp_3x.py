# aLRP RetinaNet on the demo for three times the demo schedule (6,000
# iterations: the same 100-iteration warm-up, cosine to the end), evaluated
# every 1,000 iterations (issue 26, step 2: does the gap to focal loss
# shrink, hold or grow with training?). Trained at each row's tuned
# learning rate through --cfg-options (make results-long).
_base_ = './retinanet_r18_fpn_alrp_demo.py'

max_iters = 6000
train_cfg = dict(max_iters=max_iters, val_interval=1000)
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
