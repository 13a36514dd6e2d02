# GHM-C + GHM-R (ours) on the demo data: the demo baseline's model, data,
# schedule and seed; only the head (one histogram per iteration over all
# levels and images) and the losses change. Loss settings are mmdet's
# retinanet_r50_fpn_ghm-1x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelRetinaHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.GHMC',
            bins=30,
            momentum=0.75,
            use_sigmoid=True,
            loss_weight=1.0),
        loss_bbox=dict(
            _delete_=True,
            type='mmdet_lossplus.GHMR',
            mu=0.02,
            bins=10,
            momentum=0.7,
            loss_weight=10.0)))
