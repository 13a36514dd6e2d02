# COCO FCOS R50 (mmdet's improved FCOS) with GHM-C (ours): one gradient
# histogram per iteration over all levels, images and GPUs. loss_weight=1
# as the demo (not yet tuned on COCO). Launch:
#   bash tools/dist_train.sh configs/fcos/fcos_r50_fpn_ghmc_1x_coco.py 8
_base_ = ('mmdet::fcos/'
          'fcos_r50-caffe_fpn_gn-head-center-normbbox-centeronreg-giou_1x_coco'
          '.py')

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelFCOSHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.GHMC',
            bins=30,
            momentum=0.75,
            use_sigmoid=True,
            loss_weight=1.0)))
