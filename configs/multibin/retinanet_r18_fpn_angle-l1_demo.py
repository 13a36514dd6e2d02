# The multi-bin demo's orientation branch regressing the raw angle
# (radians in [-pi, pi)) with L1: the single-mode baseline.
_base_ = './retinanet_r18_fpn_angle-multibin_demo.py'

model = dict(
    bbox_head=dict(
        angle_coder=dict(_delete_=True, type='mmdet_lossplus.RawAngleCoder'),
        loss_angle=dict(_delete_=True, type='L1Loss', loss_weight=1.0)))
