# aLRP-RetinaNet on the demo data (aLRP loss, Oksuz et al., NeurIPS 2020):
# the demo RetinaNet with both branches trained through aLRP loss (delta =
# 1, GIoU localisation errors, self-balancing weight starting at 50), one
# ranking over all levels, images and processes
# (mmdet_lossplus.aLRPRetinaHead). The demo loop is iteration-based (the
# epoch never changes), so SB is re-estimated every 200 iterations (a tenth
# of the schedule; the paper: once per epoch).
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.aLRPRetinaHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.aLRPLoss',
            delta=1.0,
            sb_init=50.0,
            sb_interval=200,
            use_sigmoid=True),
        loss_bbox=dict(_delete_=True, type='GIoULoss', reduction='none')))
