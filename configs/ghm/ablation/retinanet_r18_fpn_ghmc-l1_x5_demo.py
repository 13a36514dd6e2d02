# GHM investigation (results issue): GHM-C + L1 with GHM-C's loss weight 5,
# the scale of the per-level setup of the paper and mmdet (five per-level
# losses summed, each normalised by its own level's count) on top of our
# one all-level histogram. Under AdamW a constant factor on one branch's loss
# does not change that branch's own updates, only its share of the gradient
# of the shared backbone and neck. Everything else as
# ../retinanet_r18_fpn_ghmc-l1_demo.py.
_base_ = '../retinanet_r18_fpn_ghmc-l1_demo.py'

model = dict(bbox_head=dict(loss_cls=dict(loss_weight=5.0)))
