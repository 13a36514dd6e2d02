# AP-loss (ours) on the demo data: the demo baseline's model, data, schedule
# and seed; the classification loss is AP-loss ranked over all levels,
# images and processes of the mini-batch (AllLevelRetinaHead), delta = 1 as
# in the paper. The regression loss stays mmdet's L1.
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelRetinaHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.APLoss',
            delta=1.0,
            use_sigmoid=True,
            loss_weight=1.0)))
