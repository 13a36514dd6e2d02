"""tools/analysis_tools/ranking_gradient_gap.py: the distances between the
per-process and the global AP-loss update agree with the plain
transcription of AP-loss (tests/ap_loss_reference.py), vanish where the
modes coincide (one process), and the dealing by object count groups like
images."""
import math
import random

import pytest
import torch
from ap_loss_reference import reference_ap_loss
from conftest import load_tool


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


def _reference_gap(images, procs, delta):
    """The tool's three updates from the loops of the transcription."""
    every_s = [float(v) for s, _ in images for v in s]
    every_l = [int(v) for _, lab in images for v in lab]
    glob = reference_ap_loss(every_s, every_l, delta)[1]
    per = len(images) // procs
    total_pos = sum(1 for v in every_l if v == 1)
    local, counted = [], []
    for r in range(procs):
        group = images[r * per:(r + 1) * per]
        s = [float(v) for g, _ in group for v in g]
        lab = [int(v) for _, g in group for v in g]
        update = reference_ap_loss(s, lab, delta)[1]
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
    entries = [(torch.zeros(1), torch.zeros(1), objects)
               for objects in (5, 1, 3, 1, 5, 3, 1, 5)]
    rng = random.Random(0)
    batch = tool.deal(entries, 2, 4, 'by-objects', rng)
    assert len(batch) == 8  # every image, sorted by its object count
    rng = random.Random(0)
    chosen = rng.sample(range(8), 8)
    counts = sorted(entries[i][2] for i in chosen)
    assert counts == [1, 1, 1, 3, 3, 5, 5, 5]
