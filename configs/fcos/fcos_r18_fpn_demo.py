# FCOS with our head on the demo data: the demo baseline's backbone, neck,
# data, schedule and seed (configs/retinanet); the head is mmdet's FCOS
# head with its improvements (centre sampling, norm_on_bbox, centerness on
# the regression branch, GIoU) sized like the demo RetinaNet's, normalised
# by the global positive count and reporting global values
# (mmdet_lossplus.AllLevelFCOSHead).
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    type='FCOS',
    bbox_head=dict(
        _delete_=True,
        type='mmdet_lossplus.AllLevelFCOSHead',
        num_classes=10,
        in_channels=64,
        stacked_convs=2,
        feat_channels=64,
        strides=[8, 16, 32, 64, 128],
        # digits are 12-44 px: most objects on P3 and P4
        regress_ranges=((-1, 32), (32, 64), (64, 128), (128, 256), (256, 1e8)),
        center_sampling=True,
        center_sample_radius=1.5,
        norm_on_bbox=True,
        centerness_on_reg=True,
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None)
