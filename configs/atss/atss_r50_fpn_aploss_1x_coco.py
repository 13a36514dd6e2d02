# COCO ATSS R50 with AP-loss (ours) ranked over the whole global
# mini-batch, on mmdet's ATSS config; only the head type (same weights as
# ATSSHead: zoo checkpoints load strictly) and the classification loss
# change. Launch:
#   bash tools/dist_train.sh configs/atss/atss_r50_fpn_aploss_1x_coco.py 8
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AllLevelATSSHead',
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.APLoss',
            delta=1.0,
            use_sigmoid=True,
            loss_weight=1.0)))
