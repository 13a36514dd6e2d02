# mmdet's own GHMC + GHMR on the demo data, for comparison with ours:
# per-level histograms (five EMA updates per iteration), per-GPU statistics.
_base_ = '../retinanet/retinanet_r18_fpn_demo.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,
            type='GHMC',
            bins=30,
            momentum=0.75,
            use_sigmoid=True,
            loss_weight=1.0),
        loss_bbox=dict(
            _delete_=True,
            type='GHMR',
            mu=0.02,
            bins=10,
            momentum=0.7,
            loss_weight=10.0)))
