# GHM investigation (results issue): GHM-C + L1 with 10 bins instead of 30.
# Wider bins hold more examples each, so a sparse bin (a few hard examples
# sharing one bin's whole weight) is rarer. Everything else as
# ../retinanet_r18_fpn_ghmc-l1_demo.py.
_base_ = '../retinanet_r18_fpn_ghmc-l1_demo.py'

model = dict(bbox_head=dict(loss_cls=dict(bins=10)))
