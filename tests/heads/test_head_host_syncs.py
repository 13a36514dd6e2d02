"""A whole head's training step (forward, targets, losses, backward) as
CUDA would run it, on CPU with the CUDA branches forced: its host
synchronisations (tests/sync_counter.py) and deterministic mode.

mmdet's target assignment, anchor generation and sampling synchronise
dozens of times per batch (``nonzero``, boolean-mask indexing, tensors
made from Python numbers); that is mmdet's cost, paid by its own heads
too. The budget is therefore relative: each of our heads makes at most
the synchronisations of the mmdet head it replaces, on the same batch,
plus its loss's own (1 for a ranking loss, 0 for the others), and no
operator that CUDA refuses under deterministic algorithms. Under
``torch.use_deterministic_algorithms(True)`` the losses and parameter
gradients equal those without it, and two runs are bitwise identical.
"""
import pytest
import torch
from head_helpers import (ATSS_HEAD, RETINA_HEAD, build_head, random_batch,
                          summed_losses)
from mmdet.models.dense_heads import ATSSHead, FCOSHead, RetinaHead
from mmdet.utils import register_all_modules
from sync_counter import cuda_behaviour
from test_all_level_atss_fcos_heads import FCOS
from test_rank_sort_atss_alrp_retina_heads import ALRP, RS

from mmdet_lossplus.functional import torch_compat
from mmdet_lossplus.heads import (AllLevelATSSHead, AllLevelFCOSHead,
                                  AllLevelRetinaHead, RankSortATSSHead,
                                  aLRPRetinaHead)

register_all_modules()

AP = dict(loss_cls=dict(type='mmdet_lossplus.APLoss'))
GHM = dict(
    loss_cls=dict(type='mmdet_lossplus.GHMC', bins=30, momentum=0.75),
    loss_bbox=dict(type='mmdet_lossplus.GHMR', mu=0.02, bins=10, momentum=0.7))
# ours, its overrides, mmdet's head, their config, the loss's own syncs
CASES = {
    'retina_focal': (AllLevelRetinaHead, {}, RetinaHead, RETINA_HEAD, 0),
    'retina_ap': (AllLevelRetinaHead, AP, RetinaHead, RETINA_HEAD, 1),
    'retina_ghm': (AllLevelRetinaHead, GHM, RetinaHead, RETINA_HEAD, 0),
    'atss_focal': (AllLevelATSSHead, {}, ATSSHead, ATSS_HEAD, 0),
    'fcos_focal': (AllLevelFCOSHead, {}, FCOSHead, FCOS, 0),
    # Rank & Sort drops the centerness branch; mmdet's ATSS keeps it
    'rank_sort_atss': (RankSortATSSHead, {}, ATSSHead, ATSS_HEAD, 1),
    # aLRP's anchors and coder, mmdet's RetinaHead with focal on them
    'alrp_retina': (aLRPRetinaHead, {}, RetinaHead,
                    dict(
                        ALRP,
                        loss_cls=RETINA_HEAD['loss_cls'],
                        loss_bbox=RETINA_HEAD['loss_bbox']), 1),
}


def _config(name):
    ours_cls, overrides, _, cfg, _ = CASES[name]
    if name == 'rank_sort_atss':
        return ours_cls, RS
    if name == 'alrp_retina':
        return ours_cls, ALRP
    return ours_cls, dict(cfg, **overrides)


def _behaviour(cls, cfg, seed):
    head = build_head(cls, cfg)
    feats, gts, metas = random_batch(seed)

    def step():
        losses = summed_losses(head, feats, gts, metas)
        sum(losses.values()).backward()

    return cuda_behaviour(step)


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('name', list(CASES))
def test_head_syncs_no_more_than_mmdet_plus_its_loss(monkeypatch, name, seed):
    monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', True)
    _, _, mmdet_cls, cfg, loss_syncs = CASES[name]
    ours = _behaviour(*_config(name), seed)
    theirs = _behaviour(mmdet_cls, cfg, seed)
    assert sum(theirs.syncs.values()) > 0  # the counter sees mmdet's
    assert sum(ours.syncs.values()) <= \
        sum(theirs.syncs.values()) + loss_syncs, (dict(ours.syncs),
                                                  dict(theirs.syncs))
    assert dict(ours.refused) == {}


def _losses_and_grads(cls, cfg):
    head = build_head(cls, cfg)
    feats, gts, metas = random_batch(2)
    losses = summed_losses(head, feats, gts, metas)
    sum(losses.values()).backward()
    return ({
        k: v.detach()
        for k, v in losses.items()
    }, [p.grad.clone() for p in head.parameters() if p.grad is not None])


@pytest.mark.parametrize('name', list(CASES))
def test_head_is_deterministic_with_the_same_values(monkeypatch, name):
    monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', True)
    free = _losses_and_grads(*_config(name))
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        first = _losses_and_grads(*_config(name))
        second = _losses_and_grads(*_config(name))
    finally:
        torch.use_deterministic_algorithms(previous)
    assert first[0].keys() == free[0].keys() and first[1]
    for key in free[0]:
        assert torch.equal(first[0][key], second[0][key]), key
        torch.testing.assert_close(first[0][key], free[0][key])
    for a, b, c in zip(first[1], second[1], free[1]):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c)
