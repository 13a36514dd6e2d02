# Demo RetinaNet regressing decoded boxes with GIoU (ours) instead of L1:
# the demo baseline's model, data, schedule and seed otherwise. The head is
# ours so that test_cfg may switch to DIoU-NMS (see README.md); for focal +
# L1 it computes exactly mmdet's RetinaHead losses.
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelRetinaHead',
        reg_decoded_bbox=True,
        loss_bbox=dict(
            _delete_=True, type='mmdet_lossplus.GIoULoss', loss_weight=2.0)))
