# The multi-bin demo's orientation branch regressing (sin, cos) of the
# angle with L2: continuous across +-pi, but one mode only.
_base_ = './retinanet_r18_fpn_angle-multibin_demo.py'

model = dict(
    bbox_head=dict(
        angle_coder=dict(
            _delete_=True, type='mmdet_lossplus.SinCosAngleCoder'),
        loss_angle=dict(_delete_=True, type='MSELoss', loss_weight=1.0)))
