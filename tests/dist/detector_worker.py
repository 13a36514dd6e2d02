"""Run under torchrun (2 ranks, gloo): a whole detector training step with
2 ranks x b images equals one process with the 2b images (RetinaNet, ATSS
or FCOS with our heads).

For each rank: the losses every rank logs equal the single-process losses
on the union, and the parameter gradients averaged over ranks (what DDP
does) equal the single-process gradients (relative error of each
parameter's gradient < 1e-5). The single-process reference runs locally on
every rank with the global machinery switched off (no collective).

Usage: torchrun --nproc_per_node=2 detector_worker.py CASE [HEAD]
CASE: focal | focal_no_gt | uneven (3 images on rank 0, 1 on rank 1) |
ghm | aploss | angle (AngleRetinaHead + multi-bin) | alrp, alrp_no_gt
(aLRPRetinaHead) | ranksort, ranksort_no_gt (RankSortATSSHead, HEAD atss) |
control (focal_no_gt with mmdet's local positive count: must NOT match,
printed as such) | alrp_control, ranksort_control (their no_gt case with
head and loss in scope='local': must NOT match)
HEAD: retina (default) | atss | fcos (their demo configs; ghm is GHM-C
there, the box losses being ATSS's and FCOS's own)
"""
import copy
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    focal='configs/retinanet/retinanet_r18_fpn_demo.py',
    focal_no_gt='configs/retinanet/retinanet_r18_fpn_demo.py',
    uneven='configs/retinanet/retinanet_r18_fpn_demo.py',
    control='configs/retinanet/retinanet_r18_fpn_demo.py',
    ghm='configs/ghm/retinanet_r18_fpn_ghm_demo.py',
    aploss='configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
    angle='configs/multibin/retinanet_r18_fpn_angle-multibin_demo.py',
    alrp='configs/alrp/retinanet_r18_fpn_alrp_demo.py',
    alrp_no_gt='configs/alrp/retinanet_r18_fpn_alrp_demo.py',
    alrp_control='configs/alrp/retinanet_r18_fpn_alrp_demo.py')
HEAD_CONFIGS = {
    head:
    dict(
        focal=f'configs/{head}/{head}_r18_fpn_demo.py',
        ghm=f'configs/{head}/{head}_r18_fpn_ghmc_demo.py',
        aploss=f'configs/{head}/{head}_r18_fpn_aploss_demo.py')
    for head in ('atss', 'fcos')
}
HEAD_CONFIGS['atss'].update(
    ranksort='configs/atss/atss_r18_fpn_ranksort_demo.py',
    ranksort_no_gt='configs/atss/atss_r18_fpn_ranksort_demo.py',
    ranksort_control='configs/atss/atss_r18_fpn_ranksort_demo.py')
# images per rank (LOSSPLUS_IMAGES_PER_RANK: 1 for the 4 x 1 = 1 x 4 runs)
B = int(os.environ.get('LOSSPLUS_IMAGES_PER_RANK', '2'))


def config_of(case, head):
    if head == 'retina':
        return CONFIGS[case]
    return HEAD_CONFIGS[head].get(case, HEAD_CONFIGS[head]['focal'])


def build(case, head='retina'):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, config_of(case, head)))
    if head == 'retina' and case != 'angle' and not case.startswith('alrp'):
        # angle and aLRP: their own heads
        cfg.model.bbox_head.type = 'mmdet_lossplus.AllLevelRetinaHead'
    # frozen BN: batch statistics would differ between 2 and 4 images
    cfg.model.backbone.norm_eval = True
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model


def make_batch(case, world):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(7)
    n = B * world
    images = torch.randn(n, 3, 64, 64, generator=g)
    samples = []
    for i in range(n):
        no_gt = case.endswith(('no_gt', 'control'))
        no_gt = no_gt and i >= B
        k = 0 if no_gt else 1 + i % 3
        xy = torch.rand(k, 2, generator=g) * 36
        wh = torch.rand(k, 2, generator=g) * 20 + 8
        s = DetDataSample(
            metainfo=dict(
                img_shape=(64, 64),
                ori_shape=(64, 64),
                pad_shape=(64, 64),
                batch_input_shape=(64, 64),
                scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, 10, (k, ), generator=g),
            angles=(torch.rand(k, generator=g) * 2 - 1) * 3.14159)
        samples.append(s)
    return images, samples


def step(model, images, samples):
    losses = model.loss(images, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    model.zero_grad()
    total.backward()
    grads = {
        n: p.grad.detach().clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return {k: v.detach() for k, v in losses.items()}, grads


def local_mode(model):
    from mmdet_lossplus.losses.contract import BatchStatsLoss
    head = model.bbox_head
    head.scope = 'local'
    for loss in (head.loss_cls, head.loss_bbox):
        if isinstance(loss, BatchStatsLoss):
            loss.scope = 'local'


def main():
    case = sys.argv[1]
    head = sys.argv[2] if len(sys.argv) > 2 else 'retina'
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build(case, head)
    reference = copy.deepcopy(model)
    local_mode(reference)
    images, samples = make_batch(case, world)
    ref_losses, ref_grads = step(reference, images, samples)
    rows = slice(rank * B, (rank + 1) * B)
    if case == 'uneven':  # an uneven last batch: 3 + 1 images
        rows = slice(0, 3) if rank == 0 else slice(3, 4)
    if case == 'control':
        model.bbox_head.scope = 'local'
    elif case.endswith('_control'):  # the ranking loss per process
        local_mode(model)
    losses, grads = step(model, images[rows], samples[rows])
    if case.endswith('control'):
        try:
            compare(ref_losses, ref_grads, losses, grads, world)
        except AssertionError as e:
            print(f'rank {rank} MISMATCH as expected: {e}', flush=True)
        dist.destroy_process_group()
        return
    worst = compare(ref_losses, ref_grads, losses, grads, world)
    print(
        f'rank {rank} OK {case} losses '
        f'{ {k: round(float(v), 5) for k, v in losses.items()} } '
        f'worst grad rel err {worst:.1e}',
        flush=True)
    dist.destroy_process_group()


def compare(ref_losses, ref_grads, losses, grads, world):
    """Assert equal losses and DDP-averaged gradients; the worst relative
    gradient error. Every rank reduces every gradient (no early exit)."""
    bad = []
    for name, value in ref_losses.items():
        if not torch.allclose(losses[name], value, rtol=1e-5, atol=1e-7):
            bad.append((name, float(losses[name]), float(value)))
    assert ref_grads.keys() == grads.keys()
    worst = 0.0
    for name, ref in ref_grads.items():
        g = grads[name].clone()
        dist.all_reduce(g)  # DDP: sum over ranks, divided by the world
        g /= world
        err = float((g - ref).norm() / ref.norm().clamp(min=1e-12))
        worst = max(worst, err)
        if err >= 1e-5:
            bad.append((name, err))
    assert not bad, bad[:4]
    return worst


if __name__ == '__main__':
    main()
