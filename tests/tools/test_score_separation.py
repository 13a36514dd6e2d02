"""tools/analysis_tools/score_separation.py: entries, their AP and the
statistics on hand-computed cases; the collection on the demo data."""
import os.path as osp

import pytest
import torch
from conftest import ROOT, load_tool


def _tool():
    return load_tool('analysis_tools', 'score_separation.py')


tool = _tool()


def test_entries_from_integer_labels_and_weights():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [3.0, 3.0]])
    labels = torch.tensor([1, 2, 0])  # 2 = background
    weights = torch.tensor([1.0, 1.0, 0.0])  # the last anchor ignored
    pos, neg = tool.entry_scores(logits, labels, weights)
    assert torch.allclose(pos, torch.sigmoid(torch.tensor([2.0])))
    assert torch.allclose(
        neg.sort().values,
        torch.sigmoid(torch.tensor([-1.0, 0.0, 1.0])).sort().values)
    # float [N, C] targets (Rank & Sort's IoUs), no weights
    targets = torch.tensor([[0.0, 0.7], [0.0, 0.0], [0.4, 0.0]])
    pos, neg = tool.entry_scores(logits, targets, None)
    assert torch.allclose(pos.sort().values,
                          torch.sigmoid(torch.tensor([2.0, 3.0])))
    assert neg.numel() == 4


def test_entry_ap_by_hand():
    # ranking P(0.9) N(0.7) P(0.5): precisions 1 and 2/3 at the positives
    ap = tool.entry_ap(torch.tensor([0.9, 0.5]), torch.tensor([0.7]))
    assert ap == pytest.approx((1 + 2 / 3) / 2)
    # a tie is broken against the positive
    assert tool.entry_ap(torch.tensor([0.5]),
                         torch.tensor([0.5])) == pytest.approx(0.5)
    assert tool.entry_ap(torch.tensor([0.9]),
                         torch.tensor([0.1, 0.2])) == pytest.approx(1.0)


def test_separation_statistics_by_hand():
    pos = torch.tensor([0.15, 0.35, 0.65, 0.85, 0.97])
    neg = torch.tensor([0.01, 0.07, 0.55, 0.75, 0.03])
    s = tool.separation(pos, neg)
    assert (s['num_pos'], s['num_neg']) == (5, 5)
    assert s['pos_quantiles'] == pytest.approx([0.35, 0.65, 0.85])
    assert s['neg_above_0_05'] == 3  # 0.07, 0.55, 0.75
    assert s['neg_above_pos_median'] == 1  # 0.75
    assert s['neg_max'] == pytest.approx(0.75)
    # g = 1 - p for positives: 0.85, 0.65, 0.35, 0.15, 0.03 -> bins 8 6 3 1 0
    assert s['g_pos'] == [1, 1, 0, 1, 0, 0, 1, 0, 1, 0]
    # g = p for negatives: 0.01, 0.03, 0.07 (bin 0), 0.55 (5), 0.75 (7)
    assert s['g_neg'] == [3, 0, 0, 0, 0, 1, 0, 1, 0, 0]


def test_an_initial_retinanet_scores_every_entry_near_its_prior(
        tmp_path, tiny_data):
    """At RetinaNet's initial weights (classifier bias = logit of 0.01) the
    head's own targets split into positives and negatives scored near
    0.01, the prior of the bias initialisation."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_lossplus.registry import MODELS
    config = osp.join(ROOT, 'configs/retinanet/retinanet_r18_fpn_demo.py')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(config).model)
        model.init_weights()
    checkpoint = str(tmp_path / 'init.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), checkpoint)
    pos, neg = tool.collect(config, checkpoint, 1, 0, tiny_data)
    assert pos.numel() > 0 and neg.numel() > 100 * pos.numel()
    assert 0.003 < float(pos.median()) < 0.03
    assert 0.003 < float(neg.median()) < 0.03
