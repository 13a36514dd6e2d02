# mmdet's own GHMC + GHMR on the demo data, for comparison with ours: the
# settings of retinanet_r18_fpn_ghm_demo.py, only the classes swapped -
# mmdet's RetinaHead (per-level losses: five EMA updates per iteration) and
# mmdet's losses (per-GPU statistics).
_base_ = './retinanet_r18_fpn_ghm_demo.py'

model = dict(
    bbox_head=dict(
        type='RetinaHead',
        loss_cls=dict(type='GHMC'),
        loss_bbox=dict(type='GHMR')))
