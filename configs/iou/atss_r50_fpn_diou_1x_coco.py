# COCO ATSS R50 with DIoU (ours) in place of mmdet's GIoU box loss; ATSS
# weights each positive's loss by its centerness target ([N] weights).
# Launch:
#   bash tools/dist_train.sh configs/iou/atss_r50_fpn_diou_1x_coco.py 8
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        loss_bbox=dict(
            _delete_=True, type='mmdet_lossplus.DIoULoss', loss_weight=2.0)))
