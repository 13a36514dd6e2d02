# FCOS demo with AP-loss (ours) as the classification loss, ranked over all
# levels, images and processes of the mini-batch (delta = 1, as the paper).
# Box and centerness losses stay FCOS's.
_base_ = './fcos_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.APLoss',
            delta=1.0,
            use_sigmoid=True,
            loss_weight=1.0)))
