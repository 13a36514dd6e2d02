# COCO aLRP-RetinaNet R50 (aLRP loss, Oksuz et al., NeurIPS 2020) on
# mmdet's RetinaNet config, one ranking over the whole global mini-batch.
# The authors' setting (kemaloksuz/aLRPLoss,
# configs/alrp_loss/alrp_loss_retinanet_r50_fpn_100e_coco500.py): 512 x 512
# training with SSD-style augmentation (photometric distortion, expand,
# min-IoU crop), test at 833 x 500, 4 GPUs x 8 images, SGD lr 0.008, 100
# epochs with steps at 60 and 80, 2 scales per octave (6 anchors), delta =
# 1, GIoU localisation errors, SB starting at 50 and re-estimated every
# epoch; the authors' README reports 39.0 box AP on minival for this
# model ("aLRP Loss (GIoU)", R50, 500). Launch:
#   bash tools/dist_train.sh configs/alrp/retinanet_r50_fpn_alrp_100e_coco.py 4
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_lossplus'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.aLRPRetinaHead',
        anchor_generator=dict(scales_per_octave=2),
        loss_cls=dict(
            _delete_=True,
            type='mmdet_lossplus.aLRPLoss',
            delta=1.0,
            sb_init=50.0,
            sb_interval='epoch',
            use_sigmoid=True),
        loss_bbox=dict(_delete_=True, type='GIoULoss', reduction='none')))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18),
    dict(
        type='Expand',
        mean=[123.675, 116.28, 103.53],
        to_rgb=True,
        ratio_range=(1, 4)),
    dict(
        type='MinIoURandomCrop',
        min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
        min_crop_size=0.3),
    dict(type='Resize', scale=(512, 512), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(833, 500), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=100)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=100,
        by_epoch=True,
        milestones=[60, 80],
        gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.008))
auto_scale_lr = dict(base_batch_size=32)
