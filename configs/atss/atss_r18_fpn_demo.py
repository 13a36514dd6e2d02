# ATSS with our all-level head on the demo data: the demo baseline's
# backbone, neck, data, schedule and seed (configs/retinanet); the head is
# mmdet's ATSS head (ATSS assignment, GIoU on decoded boxes weighted by the
# centerness target, centerness branch) sized like the demo RetinaNet's,
# with one call per loss over all levels and images and the global
# normalisers (mmdet_lossplus.AllLevelATSSHead).
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    type='ATSS',
    bbox_head=dict(
        _delete_=True,
        type='mmdet_lossplus.AllLevelATSSHead',
        num_classes=10,
        in_channels=64,
        stacked_convs=2,
        feat_channels=64,
        # digits are 12-44 px: 24 px anchors at stride 8
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=3,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False))
