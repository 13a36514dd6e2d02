# COCO FCOS R50 (mmdet's improved FCOS: centre sampling, norm_on_bbox,
# centerness on regression, GIoU) with AP-loss (ours) ranked over the whole
# global mini-batch; only the head type (same weights as FCOSHead) and the
# classification loss change. Launch:
#   bash tools/dist_train.sh configs/fcos/fcos_r50_fpn_aploss_1x_coco.py 8
_base_ = ('mmdet::fcos/'
          'fcos_r50-caffe_fpn_gn-head-center-normbbox-centeronreg-giou_1x_coco'
          '.py')

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelFCOSHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.APLoss',
            delta=1.0,
            use_sigmoid=True,
            loss_weight=1.0)))
