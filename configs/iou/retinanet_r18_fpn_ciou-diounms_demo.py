# CIoU loss with DIoU-NMS at test time (Zheng et al., AAAI 2020): the same
# training as retinanet_r18_fpn_ciou_demo.py; only test_cfg.nms differs.
_base_ = './retinanet_r18_fpn_ciou_demo.py'

model = dict(
    test_cfg=dict(
        nms=dict(
            _delete_=True,
            type='mmdet_lossplus.diou_nms',
            iou_threshold=0.5,
            beta=1.0)))
