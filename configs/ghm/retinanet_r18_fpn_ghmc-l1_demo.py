# GHM-C (ours) with mmdet's L1 regression on the demo data: isolates the
# classification loss (the demo baseline's model, schedule and seed).
_base_ = './retinanet_r18_fpn_ghm_demo.py'

model = dict(
    bbox_head=dict(
        loss_bbox=dict(_delete_=True, type='L1Loss', loss_weight=1.0)))
