# As atss_r50_fpn_diou_1x_coco.py, with DIoU-NMS at test time (class by
# class, beta 1 as in the DIoU paper, ATSS's threshold 0.6). The head is
# mmdet's ATSSHead with a configurable NMS (same weights), so this config
# can also evaluate a checkpoint of the DIoU or of mmdet's ATSS config:
#   bash tools/dist_test.sh configs/iou/atss_r50_fpn_diou-diounms_1x_coco.py \
#       work_dirs/atss_r50_fpn_diou_1x_coco/epoch_12.pth 8
_base_ = './atss_r50_fpn_diou_1x_coco.py'

model = dict(
    bbox_head=dict(type='mmdet_lossplus.ConfigurableNMSATSSHead'),
    test_cfg=dict(
        nms=dict(
            _delete_=True,
            type='mmdet_lossplus.diou_nms',
            iou_threshold=0.6,
            beta=1.0)))
