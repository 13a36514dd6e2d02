# COCO RetinaNet R50 trained with AP-loss (ours), global ranking over the
# whole mini-batch of all GPUs. Launch:
#   bash tools/dist_train.sh \
#       configs/ap_loss/retinanet_r50_fpn_aploss_1x_coco.py 8
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelRetinaHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.APLoss',
            delta=1.0,
            use_sigmoid=True,
            loss_weight=1.0)))
