"""What the head tests share: a random batch of FPN features with boxes
(some images without any), building a head reproducibly, and its losses
summed over levels."""
import torch
from mmengine.structures import InstanceData


def random_batch(seed,
                 empty=(1, ),
                 *,
                 images=3,
                 corner_range=36.0,
                 size_min=6.0,
                 size_range=24.0):
    """``(feats, gts, metas)``: 8-channel features of strides 8, 16, 32 for
    ``images`` 64 x 64 images, 3 boxes of 4 classes per image except the
    images in ``empty`` (none)."""
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(images, 8, s, s, generator=g) for s in (8, 4, 2)]
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64))] * images
    gts = []
    for i in range(images):
        k = 0 if i in empty else 3
        xy = torch.rand(k, 2, generator=g) * corner_range
        wh = torch.rand(k, 2, generator=g) * size_range + size_min
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, 4, (k, ), generator=g)))
    return feats, gts, metas


def build_head(cls, cfg, init=True, **overrides):
    """``cls(**cfg, **overrides)`` built after seeding torch with 0."""
    torch.manual_seed(0)
    head = cls(**dict(cfg, **overrides))
    if init:
        head.init_weights()
    return head


def summed_losses(head, feats, gts, metas):
    """The head's losses (``loss*`` keys), per-level lists summed."""
    out = head.loss_by_feat(*head(feats), gts, metas)
    return {
        k: sum(v) if isinstance(v, list) else v
        for k, v in out.items() if 'loss' in k
    }


# mmdet's focal loss as its RetinaNet, ATSS and FCOS configs set it
FOCAL_LOSS = dict(
    type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)

# the size of every small test head: 4 classes, one conv of 8 channels
HEAD_SIZE = dict(
    num_classes=4, in_channels=8, feat_channels=8, stacked_convs=1)
# group norm for the 8-channel heads that use it (ATSS, FCOS)
HEAD_GN = dict(type='GN', num_groups=4, requires_grad=True)

# a small RetinaNet head (mmdet RetinaHead arguments) on random_batch
RETINA_HEAD = dict(
    HEAD_SIZE,
    anchor_generator=dict(
        type='AnchorGenerator',
        octave_base_scale=2,
        scales_per_octave=3,
        ratios=[0.5, 1.0, 2.0],
        strides=[8, 16, 32]),
    bbox_coder=dict(
        type='DeltaXYWHBBoxCoder',
        target_means=[.0, .0, .0, .0],
        target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=FOCAL_LOSS,
    loss_bbox=dict(type='L1Loss', loss_weight=1.0),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),
        allowed_border=-1,
        pos_weight=-1,
        debug=False))


def retina_batch(seed, with_empty=True):
    """The RetinaNet head tests' batch: 2 images, the second empty unless
    ``with_empty`` is False."""
    return random_batch(
        seed,
        images=2,
        empty=(1, ) if with_empty else (),
        corner_range=40.0,
        size_min=8.0,
        size_range=20.0)


def build_retina(cls, **overrides):
    """``cls`` (a RetinaHead family class) on ``RETINA_HEAD``, as built
    (no ``init_weights``)."""
    return build_head(cls, RETINA_HEAD, init=False, **overrides)


# a small ATSS head (mmdet ATSSHead arguments) on random_batch
ATSS_HEAD = dict(
    HEAD_SIZE,
    norm_cfg=HEAD_GN,
    anchor_generator=dict(
        type='AnchorGenerator',
        ratios=[1.0],
        octave_base_scale=4,
        scales_per_octave=1,
        strides=[8, 16, 32]),
    bbox_coder=dict(
        type='DeltaXYWHBBoxCoder',
        target_means=[.0, .0, .0, .0],
        target_stds=[0.1, 0.1, 0.2, 0.2]),
    loss_cls=FOCAL_LOSS,
    loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
    loss_centerness=dict(
        type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    train_cfg=dict(
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False))


def assert_state_dicts_interchangeable(ref, ours):
    """mmdet's head ``ref`` and ours hold the same parameters and buffers
    under the same names (ours may add its losses' state, ``loss_*``), and
    each loads the other's values exactly, strictly."""
    theirs = ref.state_dict()
    mine = {
        k: v
        for k, v in ours.state_dict().items() if not k.startswith('loss_')
    }
    assert sorted(mine) == sorted(theirs)
    for k, v in theirs.items():
        assert mine[k].shape == v.shape, k
    # different values on each side first, so a load that did nothing fails
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(1.0)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for k, v in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k
    with torch.no_grad():
        for p in ours.parameters():
            p.mul_(-0.5)
    ref.load_state_dict(
        {
            k: v
            for k, v in ours.state_dict().items() if not k.startswith('loss_')
        },
        strict=True)
    for k, v in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k
