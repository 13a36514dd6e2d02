"""The typed contract between losses and their users, and the one
spelling of the global/local choice."""
import pytest
import torch
from mmdet.models.losses import FocalLoss, L1Loss

from mmdet_lossplus.losses import GHMC, GHMR, APLoss, CIoULoss, MultiBinLoss
from mmdet_lossplus.losses.contract import LossTraits, loss_traits


def test_declared_traits():
    assert loss_traits(GHMC(momentum=0.75)) == LossTraits(
        reduces_globally=True, histogram=True, stateful=True)
    assert loss_traits(GHMR()) == LossTraits(
        reduces_globally=True, histogram=True, stateful=False)
    assert loss_traits(GHMC(scope='local')).reduces_globally is False
    assert loss_traits(APLoss()) == LossTraits(
        reduces_globally=True, ranking=True)
    assert loss_traits(APLoss(scope='local')).reduces_globally is False
    # any other loss: normalised by avg_factor, publishes nothing
    for other in (FocalLoss(), L1Loss(), CIoULoss(), MultiBinLoss()):
        assert loss_traits(other) == LossTraits()


def test_an_attribute_does_not_change_the_declaration():
    # what heads read is the method, not an attribute a typo could shadow
    loss = APLoss()
    loss.reduces_globally = False
    loss.global_stats = False
    assert loss_traits(loss).reduces_globally is True


def test_published_statistics():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(50, 4, generator=g)
    target = torch.randint(0, 5, (50, ), generator=g)
    ghm = GHMC(bins=5)
    assert ghm.published_histogram() is None
    ghm(pred, target)
    counts = ghm.published_histogram()
    assert counts.shape == (5, ) and counts.sum() == 200
    ap = APLoss(delta=0.5)
    assert ap.published_ranking() is None and ap.ranking_delta() == 0.5
    value = ap(pred, target)
    snap = ap.published_ranking()
    assert snap.loss.item() == pytest.approx(value.item())
    assert snap.num_pos.item() == (target < 4).sum().item()
    assert snap.delta == 0.5
    assert GHMC().state_vector() is None  # no momentum, no state


@pytest.mark.parametrize('make,legacy,expected', [
    (GHMC, dict(global_stats=False), 'local'),
    (GHMR, dict(global_stats=True), 'global'),
    (APLoss, dict(mode='local'), 'local'),
])
def test_old_spellings_warn_and_map(make, legacy, expected):
    with pytest.warns(FutureWarning, match='deprecated; use scope'):
        loss = make(**legacy)
    assert loss.scope == expected


def test_head_old_spelling(recwarn):
    from mmdet_lossplus.heads import AllLevelRetinaHead
    kwargs = dict(
        num_classes=3,
        in_channels=8,
        stacked_convs=1,
        feat_channels=8,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=1,
            ratios=[1.0],
            strides=[8]))
    with pytest.warns(FutureWarning, match='global_avg_factor'):
        head = AllLevelRetinaHead(global_avg_factor=False, **kwargs)
    assert head.scope == 'local'
    assert AllLevelRetinaHead(**kwargs).scope == 'global'
    with pytest.raises(ValueError, match='scope'):
        AllLevelRetinaHead(scope='per_gpu', **kwargs)


def test_bad_scope_arguments():
    with pytest.raises(ValueError, match="scope must be one of"):
        GHMC(scope='per_gpu')
    with pytest.raises(ValueError, match='only scope'):
        GHMC(scope='local', global_stats=False)
    with pytest.raises(TypeError, match='global_stats must be a bool'):
        GHMC(global_stats='yes')
    with pytest.raises(ValueError, match='mode'):
        APLoss(mode='per_gpu')
