"""The CUDA path: run whenever CUDA is present (``make gpu-tests`` runs only
these), reported as skipped with the reason where it is not.

* every loss gives the same value and gradient on CUDA as on CPU;
* GHM keeps no scratch buffers on CUDA (the CPU-only optimisation is off);
* Rank & Sort and aLRP (values, gradients, the self-balancing weight) on
  CUDA equal CPU;
* the 2-process GHM, AP-loss, Rank & Sort and aLRP exactness checks pass
  with CUDA tensors;
* a short training through ``tools/train.py --amp`` (mmengine's
  ``AmpOptimWrapper``, float16 autocast) runs with GHM, AP-loss, RS-ATSS
  and aLRP-RetinaNet and gives finite losses.
"""
import math
import os.path as osp

import pytest
import torch
from conftest import (DEMO_CONFIG, TINY_OPTIONS, read_scalars, run_py,
                      run_torchrun)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='needs CUDA (torch.cuda.is_available() is False here): '
        'not run; use make gpu-tests on a GPU machine')
]

DIST = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'dist')


def _boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 2, generator=g) * 100
    size = torch.rand(n, 2, generator=g) * 60 + 2
    target = torch.cat([centre - size / 2, centre + size / 2], 1)
    pc = centre + torch.randn(n, 2, generator=g) * size * 0.3
    ps = size * torch.exp(torch.randn(n, 2, generator=g) * 0.3)
    return torch.cat([pc - ps / 2, pc + ps / 2], 1), target


def _cases():
    from mmdet_lossplus.functional.multibin import make_spec, multibin_encode
    from mmdet_lossplus.losses import (GHMC, GHMR, APLoss, ASL1Loss, CIoULoss,
                                       DIoULoss, GIoULoss, MultiBinLoss)
    g = torch.Generator().manual_seed(0)
    n, c = 2000, 8
    logits = torch.randn(n, c, generator=g) * 3
    labels = torch.randint(0, c + 1, (n, ), generator=g)
    lw = (torch.rand(n, generator=g) > 0.1).float()
    reg = torch.randn(n, 4, generator=g) * 0.2
    reg_t = torch.randn(n, 4, generator=g) * 0.2
    reg_w = (torch.rand(n, 1, generator=g) > 0.5).float().expand(n, 4)
    boxes, box_t = _boxes(500, 1)
    angles = (torch.rand(300, generator=g) * 2 - 1) * math.pi
    mb_t = multibin_encode(angles, make_spec(4, overlap=0.3))
    mb_p = torch.randn(300, 12, generator=g)
    return {
        'ghmc': (lambda: GHMC(bins=30, momentum=0.75), logits, (labels, lw)),
        'ghmr': (lambda: GHMR(bins=10, momentum=0.7), reg,
                 (reg_t, reg_w.contiguous())),
        'asl1': (ASL1Loss, reg, (reg_t, reg_w.contiguous())),
        'aploss': (lambda: APLoss(scope='local'), logits, (labels, lw)),
        'giou': (GIoULoss, boxes, (box_t, )),
        'diou': (DIoULoss, boxes, (box_t, )),
        'ciou': (CIoULoss, boxes, (box_t, )),
        'multibin':
        (lambda: MultiBinLoss(num_bins=4, overlap=0.3), mb_p, (mb_t, )),
    }


def test_rank_sort_and_alrp_on_cuda_equal_cpu():
    from mmdet_lossplus.losses import RankSortLoss, aLRPLoss
    g = torch.Generator().manual_seed(3)
    n, c = 2000, 8
    logits = torch.randn(n, c, generator=g) * 3
    labels = torch.randint(0, c + 1, (n, ), generator=g)
    ious = torch.rand(n, generator=g)
    pos = labels < c
    loc = torch.rand(int(pos.sum()), generator=g)
    results = []
    for device in ('cpu', 'cuda'):
        x = logits.to(device).clone().requires_grad_()
        rs = RankSortLoss(scope='local').to(device)(
            x, (labels.to(device), ious.to(device)))
        sum(rs).backward()
        y = logits.to(device).clone().requires_grad_()
        errors = loc.to(device).clone().requires_grad_()
        al = aLRPLoss(scope='local', sb_interval=1).to(device)
        for _ in range(2):  # the second call uses the re-estimated SB
            parts = al(y, labels.to(device), loc_errors=errors)
        sum(parts).backward()
        results.append([
            t.detach().cpu()
            for t in (*rs, x.grad, *parts, y.grad, errors.grad, al.sb_weight)
        ])
    for a, b in zip(*results):
        assert torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize('name', list(_cases()))
def test_loss_on_cuda_equals_cpu(name):
    make, pred, args = _cases()[name]
    results = []
    for device in ('cpu', 'cuda'):
        module = make().to(device)
        for _ in range(2):  # twice: the GHM EMA moves between calls
            x = pred.to(device).clone().requires_grad_()
            loss = module(x, *(a.to(device) for a in args))
            loss.backward()
        results.append((loss.detach().cpu(), x.grad.cpu()))
    (l_cpu, g_cpu), (l_gpu, g_gpu) = results
    assert torch.allclose(l_cpu, l_gpu, rtol=1e-5, atol=1e-7), name
    assert torch.allclose(g_cpu, g_gpu, rtol=1e-4, atol=1e-8), name


def test_scratch_buffers_are_off_on_cuda():
    from mmdet_lossplus.losses import GHMC, GHMR
    make, pred, args = _cases()['ghmc']
    loss = GHMC(bins=30).cuda()
    loss(pred.cuda(), *(a.cuda() for a in args))
    assert loss.scratch.nbytes() == 0
    cpu = GHMC(bins=30)
    cpu(pred, *args)
    assert cpu.scratch.nbytes() > 0  # the negative control
    make, pred, args = _cases()['ghmr']
    reg = GHMR().cuda()
    reg(pred.cuda(), *(a.cuda() for a in args))
    assert reg.scratch.nbytes() == 0


@pytest.mark.parametrize('worker,case',
                         [('ghm_worker.py', 'split'),
                          ('ghm_worker.py', 'empty'),
                          ('ap_worker.py', 'split'), ('ap_worker.py', 'nopos'),
                          ('rank_sort_alrp_worker.py', 'ranksort split'),
                          ('rank_sort_alrp_worker.py', 'alrp nopos')])
def test_two_process_exactness_with_cuda_tensors(worker, case):
    proc = run_torchrun([osp.join(DIST, worker), *case.split()],
                        timeout=300,
                        env=dict(LOSSPLUS_TEST_DEVICE='cuda'))
    for rank in (0, 1):
        assert f'rank {rank} OK {case}' in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    'config', [
        DEMO_CONFIG, 'configs/ghm/retinanet_r18_fpn_ghm_demo.py',
        'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
        'configs/atss/atss_r18_fpn_ranksort_demo.py',
        'configs/alrp/retinanet_r18_fpn_alrp_demo.py'
    ],
    ids=['focal', 'ghm', 'aploss', 'ranksort', 'alrp'])
def test_amp_training_through_the_tools(config, tmp_path, tiny_data):
    run_py(
        [
            'tools/train.py', config, '--amp', '--work-dir',
            str(tmp_path), '--data-root', tiny_data, '--cfg-options'
        ] + TINY_OPTIONS,
        timeout=900)
    records = [r for r in read_scalars(str(tmp_path)) if 'loss' in r]
    assert [r['iter'] for r in records] == [1, 2, 3, 4]
    assert all(math.isfinite(r['loss']) for r in records), records
