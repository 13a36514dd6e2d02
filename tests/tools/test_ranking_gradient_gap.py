"""tools/analysis_tools/ranking_gradient_gap.py: the distances between the
per-process and the global update of AP-loss, Rank & Sort and aLRP agree
with the plain transcriptions of the losses (tests/ap_loss_reference.py,
tests/rank_sort_alrp_reference.py), vanish where the modes coincide (one
process), the head's loss calls are read as the losses read them, and the
dealing by object count groups like images."""
import math
import random

import pytest
import torch
from ap_loss_reference import reference_ap_loss
from conftest import load_tool
from rank_sort_alrp_reference import alrp_reference, rank_sort_reference


def _tool():
    return load_tool('analysis_tools', 'ranking_gradient_gap.py')


tool = _tool()


def _image(gen, num_pos, num_neg, shift=0.0):
    scores = torch.cat([
        torch.randn(num_pos, generator=gen, dtype=torch.float64) + 1 + shift,
        torch.randn(num_neg, generator=gen, dtype=torch.float64) + shift
    ])
    labels = torch.tensor([1] * num_pos + [0] * num_neg, dtype=torch.int8)
    perm = torch.randperm(scores.numel(), generator=gen)
    return scores[perm], labels[perm]


def _with_values(gen, scores, labels):
    """The image with a value in (0, 1] per positive (IoU target or
    localisation error)."""
    num_pos = int((labels == 1).sum())
    values = torch.rand(num_pos, generator=gen, dtype=torch.float64)
    return scores, labels, values.clamp_min(0.05)


def _reference_update(kind, s, lab, values, delta):
    """One ranking's update from the transcription of ``kind``."""
    if kind == 'ap':
        return list(reference_ap_loss(s, lab, delta)[1])
    scores = torch.tensor(s, dtype=torch.float64)
    labels = torch.tensor(lab)
    if kind == 'rank-sort':
        targets = torch.zeros_like(scores)  # read at positives only
        targets[labels == 1] = torch.tensor(values, dtype=torch.float64)
        _, _, rank, sort = rank_sort_reference(scores, labels, targets, delta)
        return (rank + sort).tolist()
    loc = torch.tensor(values, dtype=torch.float64)
    return alrp_reference(scores, labels, loc, delta)[2].tolist()


def _reference_gap(images, procs, delta, kind='ap'):
    """The tool's three updates from the loops of the transcription."""
    images = [im if len(im) == 3 else (*im, torch.zeros(0)) for im in images]

    def flat(group):
        return ([float(v) for g in group
                 for v in g[0]], [int(v) for g in group for v in g[1]],
                [float(v) for g in group for v in g[2]])

    every_s, every_l, every_v = flat(images)
    glob = _reference_update(kind, every_s, every_l, every_v, delta)
    per = len(images) // procs
    total_pos = sum(1 for v in every_l if v == 1)
    local, counted = [], []
    for r in range(procs):
        s, lab, values = flat(images[r * per:(r + 1) * per])
        update = _reference_update(kind, s, lab, values, delta)
        local += [u / procs for u in update]
        share = sum(1 for v in lab if v == 1) / total_pos
        counted += [u * share for u in update]

    def dist(a):
        return math.sqrt(sum((x - y)**2 for x, y in zip(a, glob)))

    norm = math.sqrt(sum(y * y for y in glob))
    cosine = sum(x * y for x, y in zip(local, glob)) / (
        math.sqrt(sum(x * x for x in local)) * norm)
    return dict(
        relative=dist(local) / norm,
        relative_ranking=dist(counted) / norm,
        cosine=cosine)


@pytest.mark.parametrize('procs', [2, 4])
def test_distances_agree_with_the_transcription(procs):
    gen = torch.Generator().manual_seed(procs)
    # unequal positive counts and shifted score levels between images
    images = [
        _image(gen, 1 + 2 * k, 25, shift=0.5 * k) for k in range(2 * procs)
    ]
    got = tool.gradient_gap(images, procs, delta=1.0)
    want = _reference_gap(images, procs, 1.0)
    for key in ('relative', 'relative_ranking', 'cosine'):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12)
    assert got['relative'] > 0.05  # the cases do differ


@pytest.mark.parametrize('kind,delta', [('rank-sort', 0.5), ('alrp', 1.0)])
def test_rank_sort_and_alrp_distances_agree_with_the_transcription(
        kind, delta):
    gen = torch.Generator().manual_seed(7)
    images = [
        _with_values(gen, *_image(gen, 1 + k, 12, shift=0.5 * k))
        for k in range(4)
    ]
    got = tool.gradient_gap(images, 2, delta, kind)
    want = _reference_gap(images, 2, delta, kind)
    for key in ('relative', 'relative_ranking', 'cosine'):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12)
    assert got['relative'] > 0.05
    one = tool.gradient_gap(images, 1, delta, kind)
    assert one['relative'] == 0.0
    with pytest.raises(ValueError, match="kind must be one of"):
        tool.gradient_gap(images, 2, delta, 'focal')


def test_loss_calls_are_read_as_the_losses_read_them():
    pred = torch.randn(4, 3)
    labels = torch.tensor([3, 1, 3, 0])  # background 3
    ious = torch.tensor([0.0, 0.6, 0.0, 0.8])
    weight = torch.ones(4)
    scores, lab, values = tool.call_entries('rank-sort',
                                            (pred, (labels, ious), weight), {})
    assert torch.equal(scores, pred.reshape(-1).double())
    assert lab.tolist() == [0] * 3 + [0, 1, 0] + [0] * 3 + [1, 0, 0]
    # positives in entry order: anchor 1 (class 1), then anchor 3 (class 0)
    assert values.tolist() == pytest.approx([0.6, 0.8])
    loc = torch.tensor([0.3, 0.1])
    _, lab, values = tool.call_entries(
        'alrp', (pred, labels), dict(label_weight=weight, loc_errors=loc))
    assert int((lab == 1).sum()) == 2
    assert values.tolist() == pytest.approx([0.3, 0.1])
    _, _, values = tool.call_entries('ap', (pred, labels, weight), {})
    assert values.numel() == 0


def test_the_modes_coincide_where_they_must():
    gen = torch.Generator().manual_seed(0)
    images = [_image(gen, 3, 20) for _ in range(4)]
    one = tool.gradient_gap(images, 1)
    assert one['relative'] == 0.0 and one['cosine'] == pytest.approx(1.0)
    # no positive anywhere: no update to compare
    empty = [(torch.randn(
        5, dtype=torch.float64), torch.zeros(5, dtype=torch.int8))] * 2
    assert tool.gradient_gap(empty, 2) is None
    with pytest.raises(ValueError, match='3 images do not split over 2'):
        tool.gradient_gap(images[:3], 2)


def test_dealing_by_objects_groups_similar_images():
    # each image's score is its object count, to read the order back
    entries = [(torch.tensor([float(objects)]), torch.zeros(1), torch.zeros(0),
                objects) for objects in (5, 1, 3, 1, 5, 3, 1, 5)]
    batch = tool.deal(entries, 2, 4, 'by-objects', random.Random(0))
    assert all(len(image) == 3 for image in batch)  # the count dropped
    assert [int(image[0]) for image in batch] == [1, 1, 1, 3, 3, 5, 5, 5]
    batch = tool.deal(entries, 2, 2, 'random', random.Random(0))
    want = random.Random(0).sample(range(8), 4)
    assert [int(image[0]) for image in batch] == \
        [entries[i][-1] for i in want]


@pytest.mark.parametrize('config', [
    'configs/ap_loss/retinanet_r18_fpn_aploss_demo.py',
    'configs/atss/atss_r18_fpn_ranksort_demo.py',
    'configs/alrp/retinanet_r18_fpn_alrp_demo.py'
])
def test_the_tool_end_to_end_on_each_loss(config, tmp_path, tiny_data, capsys):
    import os.path as osp

    from conftest import ROOT

    from mmdet_lossplus.utils import build_for_analysis
    config = osp.join(ROOT, config)
    model, _ = build_for_analysis(config, seed=0, data_root=tiny_data)
    checkpoint = str(tmp_path / 'init.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), checkpoint)
    kind, delta, entries = tool.per_image_entries(config, checkpoint, 3,
                                                  tiny_data)
    assert kind == {
        'ap_loss': 'ap',
        'atss': 'rank-sort',
        'alrp': 'alrp'
    }[osp.basename(osp.dirname(config))]
    assert delta == model.bbox_head.loss_cls.delta
    for scores, labels, values, objects in entries:
        assert scores.shape == labels.shape and objects >= 1
        num_pos = int((labels == 1).sum())
        assert num_pos > 0
        assert values.numel() == (0 if kind == 'ap' else num_pos)
    tool.main([
        config, checkpoint, '--procs', '1', '2', '--images', '1', '--draws',
        '2', '--data-root', tiny_data
    ])
    out = capsys.readouterr().out
    assert f'({kind}, delta {delta:g})' in out
    rows = [line for line in out.splitlines() if line.startswith('| random')]
    assert len(rows) == 2
    assert rows[0].startswith('| random | 1 | 1 | 0.000 +- 0.000 | 1.000')
