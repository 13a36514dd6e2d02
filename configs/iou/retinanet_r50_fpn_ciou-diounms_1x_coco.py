# As retinanet_r50_fpn_ciou_1x_coco.py, with DIoU-NMS at test time (class
# by class, threshold 0.5, beta 1 as in the DIoU paper). It changes only
# test_cfg, so it can also evaluate a checkpoint of the CIoU config:
#   bash tools/dist_test.sh \
#       configs/iou/retinanet_r50_fpn_ciou-diounms_1x_coco.py \
#       work_dirs/retinanet_r50_fpn_ciou_1x_coco/epoch_12.pth 8
_base_ = './retinanet_r50_fpn_ciou_1x_coco.py'

model = dict(
    test_cfg=dict(
        nms=dict(
            _delete_=True,
            type='mmdet_lossplus.diou_nms',
            iou_threshold=0.5,
            beta=1.0)))
