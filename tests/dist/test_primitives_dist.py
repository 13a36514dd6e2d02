"""The global-batch primitives of ``mmdet_lossplus.dist`` across 2 real
gloo processes, and their single-process identities."""
import os.path as osp

import torch
from conftest import run_torchrun

from mmdet_lossplus import dist

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'primitives_worker.py')


def test_primitives_across_two_ranks():
    proc = run_torchrun([WORKER], timeout=300)
    for rank in (0, 1):
        assert f'rank {rank} OK primitives' in proc.stdout, proc.stdout


def test_single_process_identities():
    x = torch.tensor([1., 2.], requires_grad=True)
    v = (x * 3).sum()
    assert dist.global_value(v) is v
    assert dist.global_normaliser(5.0, 'cpu') == (5.0, 1)
    values = dict(a=v)
    assert dist.global_report(values) is values
    assert dist.ddp_gradient_scale() == 1
