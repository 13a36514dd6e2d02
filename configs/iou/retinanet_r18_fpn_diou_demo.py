# DIoU loss (ours) on the demo; everything else as the GIoU demo config.
_base_ = './retinanet_r18_fpn_giou_demo.py'

model = dict(
    bbox_head=dict(
        loss_bbox=dict(
            _delete_=True, type='mmdet_lossplus.DIoULoss', loss_weight=2.0)))
