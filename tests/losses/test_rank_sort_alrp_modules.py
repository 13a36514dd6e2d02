"""RankSortLoss and aLRPLoss modules: values and gradients against the
O(P*N) transcriptions, argument and input checks, aLRP's self-balancing
state (saved, validated on load, exact across resume), host round-trips."""
import pytest
import torch
from loss_helpers import entry_labels
from rank_sort_alrp_reference import alrp_reference, rank_sort_reference
from sync_counter import count_host_syncs

from mmdet_lossplus.functional import torch_compat
from mmdet_lossplus.hooks.loss_state_check import LossStateCheckHook
from mmdet_lossplus.losses import RankSortLoss, aLRPLoss
from mmdet_lossplus.losses.contract import loss_traits


def _batch(seed=0, n=120, c=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g, dtype=dtype) * 1.5
    labels = torch.randint(0, c + 1, (n, ), generator=g)
    labels[torch.rand(n, generator=g) < 0.5] = c
    ious = torch.rand(n, generator=g, dtype=dtype) * 0.9 + 0.05
    weight = (torch.rand(n, generator=g) > 0.1).float()
    return pred, labels, ious, weight


def test_rank_sort_module_matches_reference():
    pred, labels, ious, weight = _batch()
    c = pred.shape[1]
    x = pred.clone().requires_grad_()
    loss = RankSortLoss(delta=0.5)
    rank, sort = loss(x, (labels, ious), weight)
    (rank + 2 * sort).backward()
    entry = entry_labels(labels, weight, c)
    targets = ious[:, None].expand(-1, c).reshape(-1)
    r, s, r_upd, s_upd = rank_sort_reference(pred, entry, targets, 0.5)
    assert rank.item() == pytest.approx(r, abs=1e-6)  # float32 values
    assert sort.item() == pytest.approx(s, abs=1e-6)
    # each part's update times its upstream gradient
    torch.testing.assert_close(
        x.grad.reshape(-1), r_upd + 2 * s_upd, atol=1e-12, rtol=0)
    # mmdet's call convention: avg_factor accepted, unused
    again = RankSortLoss()(pred, (labels, ious), weight, avg_factor=3.0)
    assert again[0].item() == rank.item() and again[1].item() == sort.item()


def test_rank_sort_nc_targets_and_zero_iou_positive():
    pred, labels, ious, _ = _batch(1)
    c = pred.shape[1]
    n = labels.numel()
    dense = torch.zeros(n, c, dtype=pred.dtype)
    pos = labels < c
    dense[torch.arange(n)[pos], labels[pos]] = ious[pos]
    a = RankSortLoss()(pred, (labels, ious))
    b = RankSortLoss()(pred, dense)
    assert a[0].item() == b[0].item() and a[1].item() == b[1].item()
    # the authors' convention: a positive whose IoU is 0 is a negative
    first = int(torch.nonzero(pos)[0])
    zero = ious.clone()
    zero[first] = 0.0
    as_negative = labels.clone()
    as_negative[first] = c
    got = RankSortLoss()(pred, (labels, zero))
    want = RankSortLoss()(pred, (as_negative, zero))
    assert got[0].item() == want[0].item()


def test_alrp_module_matches_reference():
    pred, labels, _, weight = _batch(2)
    c = pred.shape[1]
    pos_anchor = (labels < c) & (weight > 0)
    g = torch.Generator().manual_seed(5)
    loc = torch.rand(
        int(pos_anchor.sum()), generator=g,
        dtype=torch.float64).requires_grad_()
    x = pred.clone().requires_grad_()
    loss = aLRPLoss(sb_init=50.0, sb_interval=1000)
    cls, reg = loss(x, labels, weight, loc_errors=loc)
    (cls + reg).backward()
    entry = entry_labels(labels, weight, c)
    c_ref, l_ref, upd, loc_grad = alrp_reference(pred, entry, loc.detach())
    assert cls.item() == pytest.approx(c_ref, abs=1e-6)
    assert reg.item() == pytest.approx(50 * l_ref, rel=1e-12)
    torch.testing.assert_close(x.grad.reshape(-1), upd, atol=1e-12, rtol=0)
    torch.testing.assert_close(loc.grad, 50 * loc_grad, atol=1e-12, rtol=0)


def test_alrp_counts_loc_errors_against_positives():
    pred, labels, _, weight = _batch(2)
    with pytest.raises(ValueError, match='loc_errors: one per positive'):
        aLRPLoss()(
            pred, labels, weight, loc_errors=torch.ones(3, dtype=pred.dtype))


@pytest.mark.parametrize('cls,kwargs,match', [
    (RankSortLoss, dict(delta=-1), 'delta'),
    (RankSortLoss, dict(delta=float('nan')), 'delta'),
    (RankSortLoss, dict(scope='world'), 'scope'),
    (RankSortLoss, dict(use_sigmoid=False), 'use_sigmoid'),
    (RankSortLoss, dict(loss_weight=float('inf')), 'loss_weight'),
    (aLRPLoss, dict(delta=-0.5), 'delta'),
    (aLRPLoss, dict(sb_init=0), 'sb_init'),
    (aLRPLoss, dict(sb_interval=0), 'sb_interval'),
    (aLRPLoss, dict(sb_interval='iter'), 'sb_interval'),
    (aLRPLoss, dict(scope='all'), 'scope'),
])
def test_bad_arguments_fail_at_construction(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls(**kwargs)


def test_bad_inputs():
    pred, labels, ious, weight = _batch()
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        RankSortLoss()(pred, (labels, ious + 1.0))
    with pytest.raises(TypeError, match='ious'):
        RankSortLoss()(pred, (labels, labels))
    bad = pred.clone()
    bad[0, 0] = float('nan')
    with pytest.raises(ValueError, match='non-finite'):
        RankSortLoss()(bad, (labels, ious))
    with pytest.raises(ValueError, match='non-finite'):
        npos = int((labels < 4).sum())
        aLRPLoss()(bad, labels, loc_errors=torch.zeros(npos))
    with pytest.raises(ValueError, match='class indices'):
        aLRPLoss()(pred, torch.zeros_like(pred), loc_errors=torch.zeros(1))


def _train_calls(loss, calls, seed=0):
    pred, labels, _, weight = _batch(seed)
    c = pred.shape[1]
    npos = int(((labels < c) & (weight > 0)).sum())
    out = []
    for i in range(calls):
        g = torch.Generator().manual_seed(100 + i)
        loc = torch.rand(npos, generator=g, dtype=torch.float64)
        x = pred + 0.1 * i
        cls, reg = loss(x, labels, weight, loc_errors=loc)
        out.append((cls.item(), reg.item(), loss.sb_weight.item()))
    return out


def test_self_balance_follows_the_running_means():
    loss = aLRPLoss(sb_init=50.0, sb_interval=3)
    trace = _train_calls(loss, 7)
    assert [t[2] for t in trace[:2]] == [50.0, 50.0]
    # the third call completes the interval and already uses the new SB:
    # (mean loc + mean cls) / mean loc over calls 1-3
    cls = [t[0] for t in trace[:3]]
    loc = [t[1] / t[2] for t in trace[:3]]  # reg / the SB it was scaled by
    assert trace[2][2] == pytest.approx(1 + sum(cls) / sum(loc), rel=1e-6)
    assert trace[2][2] != 50.0 and trace[5][2] != trace[2][2]
    # nothing changes in eval mode
    loss.eval()
    before = loss.state_dict()['sb_weight'].clone()
    _train_calls(loss, 4)
    assert loss.sb_weight.item() == before.item()


def test_self_balance_is_exact_across_resume():
    straight = aLRPLoss(sb_interval=3)
    full = _train_calls(straight, 8)
    first = aLRPLoss(sb_interval=3)
    part = _train_calls(first, 4)
    state = first.state_dict()
    resumed = aLRPLoss(sb_interval=3)
    resumed.load_state_dict(state, strict=True)
    assert resumed._calls == 1 and resumed.sb_weight.item() == part[-1][2]
    pred_calls = []
    pred, labels, _, weight = _batch(0)
    npos = int(((labels < 4) & (weight > 0)).sum())
    for i in range(4, 8):
        g = torch.Generator().manual_seed(100 + i)
        loc = torch.rand(npos, generator=g, dtype=torch.float64)
        cls, reg = resumed(pred + 0.1 * i, labels, weight, loc_errors=loc)
        pred_calls.append((cls.item(), reg.item(), resumed.sb_weight.item()))
    assert pred_calls == full[4:]


@pytest.mark.parametrize(
    'bad',
    [
        dict(sb_weight=torch.tensor(float('nan'), dtype=torch.float64)),
        dict(sb_weight=torch.tensor(-2.0, dtype=torch.float64)),
        dict(
            _extra_state=dict(
                sums=torch.tensor([1.0, float('inf'), 1.0],
                                  dtype=torch.float64),
                calls=1,
                epoch=None)),
        dict(
            _extra_state=dict(
                sums=torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64),
                calls=1,
                epoch=None)),
        dict(_extra_state=dict(sums=torch.zeros(3), calls=-1, epoch=None)),
        dict(_extra_state=[1, 2, 3]),
        # the tensor format: [sums (3), calls, epoch (-1: none)]
        dict(
            _extra_state=torch.tensor(
                [1.0, 1.0, 1.0, float('nan'), -1.0], dtype=torch.float64)),
        dict(
            _extra_state=torch.tensor([1.0, 1.0, 1.0, 2.5, -1.0],
                                      dtype=torch.float64)),
        dict(
            _extra_state=torch.tensor(
                [1.0, 1.0, 1.0, 2.0, float('inf')], dtype=torch.float64)),
        dict(
            _extra_state=torch.tensor([1.0, 1.0, 1.0, 2.0, -3.0],
                                      dtype=torch.float64)),
        dict(
            _extra_state=torch.tensor([1.0, float('nan'), 1.0, 2.0, -1.0],
                                      dtype=torch.float64)),
        dict(_extra_state=torch.zeros(4, dtype=torch.float64)),
    ])
def test_corrupted_state_is_refused_on_load(bad):
    loss = aLRPLoss(sb_interval=3)
    _train_calls(loss, 2)
    state = {**loss.state_dict(), **bad}
    fresh = aLRPLoss(sb_interval=3)
    before = fresh.state_dict()
    with pytest.raises(ValueError, match='aLRP|corrupted'):
        fresh.load_state_dict(state, strict=False)
    assert fresh.sb_weight.item() == before['sb_weight'].item()


def test_state_check_hook_sees_the_self_balance():
    loss = aLRPLoss()
    assert loss_traits(loss).stateful and loss_traits(loss).ranking
    model = torch.nn.Module()
    model.loss = loss
    hook = LossStateCheckHook(interval=1)
    assert hook.check(model, 1) == 0.0  # one process: identical by def.
    loss.sb_weight.fill_(float('nan'))
    with pytest.raises(RuntimeError, match='corrupted'):
        hook.check(model, 2)


def test_sb_by_epoch_reads_the_message_hub():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('alrp_epoch_test')
    hub.update_info('epoch', 0)
    loss = aLRPLoss(sb_interval='epoch')
    _train_calls(loss, 3)
    assert loss.sb_weight.item() == 50.0
    hub.update_info('epoch', 1)  # the first call of epoch 1 re-estimates
    trace = _train_calls(loss, 1)
    assert trace[0][2] != 50.0 and loss._calls == 1


@pytest.mark.parametrize('make', ['ranksort', 'alrp'])
def test_one_host_round_trip_per_call(make, monkeypatch):
    # the CUDA branches (the CPU counts with bincount, which waits for
    # nothing there)
    monkeypatch.setattr(torch_compat, 'FORCE_PORTABLE', True)
    pred, labels, ious, weight = _batch(3, n=2000, c=8, dtype=torch.float32)
    x = pred.clone().requires_grad_()
    if make == 'ranksort':
        loss = RankSortLoss()

        def call():
            sum(loss(x, (labels, ious), weight)).backward()
    else:
        loss = aLRPLoss(sb_interval=2)
        npos = int(((labels < 8) & (weight > 0)).sum())
        loc = torch.rand(npos).requires_grad_()

        def call():
            sum(loss(x, labels, weight, loc_errors=loc)).backward()

    counts = count_host_syncs(call)
    assert counts == {'Tensor.tolist': 1}, counts


def test_checkpoint_of_another_loss_starts_the_self_balance_afresh():
    # a RetinaNet checkpoint has no aLRP state: strict loading accepts it
    fresh = aLRPLoss(sb_init=7.0)
    fresh.load_state_dict({}, strict=True)
    assert fresh.sb_weight.item() == 7.0 and fresh._calls == 0
    # half a state is a broken checkpoint: reported
    loss = aLRPLoss()
    state = loss.state_dict()
    del state['_extra_state']
    with pytest.raises(RuntimeError, match='_extra_state'):
        aLRPLoss().load_state_dict(state, strict=True)


def test_the_state_is_one_tensor_and_the_earlier_dict_still_loads():
    """mmengine's Runner broadcasts every state_dict value from rank 0
    after init_weights, and its broadcast takes tensors only."""
    loss = aLRPLoss(sb_interval=3)
    _train_calls(loss, 2)
    loss._epoch = 4
    extra = loss.state_dict()['_extra_state']
    assert torch.is_tensor(extra) and extra.dtype == torch.float64
    assert extra[3:].tolist() == [2.0, 4.0]
    assert torch.equal(extra[:3], loss._sums.cpu())
    resumed = aLRPLoss(sb_interval=3)
    resumed.load_state_dict(loss.state_dict(), strict=True)
    assert (resumed._calls, resumed._epoch) == (2, 4)
    assert torch.equal(resumed._sums, loss._sums)
    # the dict written by earlier versions
    old = dict(
        loss.state_dict(),
        _extra_state=dict(sums=loss._sums.clone(), calls=2, epoch=None))
    earlier = aLRPLoss(sb_interval=3)
    earlier.load_state_dict(old, strict=True)
    assert (earlier._calls, earlier._epoch) == (2, None)
    assert torch.equal(earlier._sums, loss._sums)
