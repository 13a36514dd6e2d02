# ATSS demo with GHM-C (ours) as the classification loss: one gradient
# histogram per iteration over all levels, images and processes. The box
# and centerness losses stay ATSS's (GIoU, BCE). Loss settings are those of
# mmdet's GHM RetinaNet (bins 30, momentum 0.75).
_base_ = './atss_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.GHMC',
            bins=30,
            momentum=0.75,
            use_sigmoid=True,
            loss_weight=1.0)))
