# COCO RetinaNet R50 regressing decoded boxes with CIoU (ours, the paper's
# continuous alpha) instead of L1; DIoU paper, Table 3 style. Switch to
# mmdet's gated alpha with loss_bbox.alpha='gated'.
# Launch:
#   bash tools/dist_train.sh configs/iou/retinanet_r50_fpn_ciou_1x_coco.py 8
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelRetinaHead',
        reg_decoded_bbox=True,
        loss_bbox=dict(
            _delete_=True,
            type='mmdet_lossplus.CIoULoss',
            alpha='paper',
            loss_weight=2.0)))
