# Demo RetinaNet with an orientation branch trained by the multi-bin loss
# (6 bins over [-pi, pi), 30 % overlap) on the demo data's recorded digit
# angles; evaluation adds the angular error of matched detections to COCO's
# box metrics. Same model, data, schedule and seed as the demo baseline.
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

num_bins = 6
overlap = 0.3
model = dict(
    bbox_head=dict(
        type='mmdet_lossplus.AngleRetinaHead',
        angle_coder=dict(
            type='mmdet_lossplus.MultiBinCoder',
            num_bins=num_bins,
            overlap=overlap),
        loss_angle=dict(
            type='mmdet_lossplus.MultiBinLoss',
            num_bins=num_bins,
            overlap=overlap,
            loss_weight=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='mmdet_lossplus.LoadAngles'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='mmdet_lossplus.PackDetInputsWithAngles')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='mmdet_lossplus.LoadAngles'),
    dict(
        type='mmdet_lossplus.PackDetInputsWithAngles',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    dataset=dict(
        type='mmdet_lossplus.CocoDatasetWithAngles', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type='mmdet_lossplus.CocoDatasetWithAngles', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file='data/demo/annotations/val.json',
        metric='bbox',
        format_only=False),
    # 0, 1 and 8 look the same turned by half a turn: also scored modulo 180
    dict(
        type='mmdet_lossplus.AngleErrorMetric',
        score_thr=0.3,
        iou_thr=0.5,
        half_turn_labels=[0, 1, 8])
]
test_evaluator = val_evaluator
