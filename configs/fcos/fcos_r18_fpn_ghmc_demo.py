# FCOS demo with GHM-C (ours) as the classification loss: one gradient
# histogram per iteration over all levels, images and processes (bins 30,
# momentum 0.75 as mmdet's GHM RetinaNet). Box and centerness losses stay.
_base_ = './fcos_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.GHMC',
            bins=30,
            momentum=0.75,
            use_sigmoid=True,
            loss_weight=1.0)))
