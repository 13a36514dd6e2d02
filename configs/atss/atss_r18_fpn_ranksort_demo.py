# RS-ATSS on the demo data (Rank & Sort loss, Oksuz et al., ICCV 2021):
# the ATSS demo's detector without the centerness branch, classification by
# Rank & Sort loss (delta_RS = 0.5) over all levels, images and processes,
# GIoU box loss weighted by the positives' scores and self-balanced to the
# classification loss's value (mmdet_lossplus.RankSortATSSHead).
_base_ = './atss_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        _delete_=True,
        type='mmdet_lossplus.RankSortATSSHead',
        num_classes=10,
        in_channels=64,
        stacked_convs=2,
        feat_channels=64,
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
            type='mmdet_lossplus.RankSortLoss', delta=0.5, use_sigmoid=True),
        loss_bbox=dict(type='GIoULoss', reduction='none')))
