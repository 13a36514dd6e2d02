"""Plain O(P*N) transcriptions of Rank & Sort loss and aLRP loss.

One loop over the positives, every sum written out over all examples, in
float64, following the papers' definitions with the authors' conventions
(self term of RS's rank, eps thresholds, pruning). The fast engines in
``mmdet_lossplus.functional`` are tested against these.
"""
import torch


def h_step(x, delta):
    if delta == 0:
        return (x >= 0).double()
    return (x / (2 * delta) + 0.5).clamp(0, 1)


def rank_sort_reference(scores, labels, targets, delta=0.5):
    """Returns ``(ranking_loss, sorting_loss, ranking_update [M],
    sorting_update [M])``; ``targets [M]`` is read at positives only."""
    s = scores.double().reshape(-1)
    labels = labels.reshape(-1)
    y = targets.double().reshape(-1)
    pos = torch.nonzero(labels == 1).flatten().tolist()
    neg = torch.nonzero(labels == 0).flatten().tolist()
    rank_upd = torch.zeros_like(s)
    sort_upd = torch.zeros_like(s)
    if not pos:
        return 0.0, 0.0, rank_upd, sort_upd
    rank_errors, sort_errors = [], []
    for i in pos:
        h_pos = {k: float(h_step(s[k] - s[i], delta)) for k in pos}
        h_neg = {j: float(h_step(s[j] - s[i], delta)) for j in neg}
        rank_pos = sum(h_pos.values())  # the self term H(0) included
        fp = sum(h_neg.values())
        rank = rank_pos + fp
        r_err = fp / rank
        current = sum(h_pos[k] * (1 - y[k]) for k in pos) / rank_pos
        sorted_set = [k for k in pos if y[k] >= y[i]]
        target = sum(h_pos[k] * (1 - y[k]) for k in sorted_set) / \
            sum(h_pos[k] for k in sorted_set)
        s_err = float(current - target)
        rank_errors.append(r_err)
        sort_errors.append(s_err)
        if fp > 1e-10:
            rank_upd[i] -= r_err
            for j in neg:
                rank_upd[j] += h_neg[j] * r_err / fp
        missorted = {k: h_pos[k] for k in pos if y[k] < y[i]}
        m = sum(missorted.values())
        if m > 1e-10:
            sort_upd[i] -= s_err
            for k, hk in missorted.items():
                sort_upd[k] += hk * s_err / m
    p = len(pos)
    return (sum(rank_errors) / p, sum(sort_errors) / p, rank_upd / p,
            sort_upd / p)


def alrp_reference(scores, labels, loc_errors, delta=1.0):
    """Returns ``(cls_loss, loc_loss, update [M], loc_grad [P])``;
    ``loc_errors [P]`` in the order of the positives in ``scores``.
    ``loc_grad`` is the derivative of ``loc_loss`` with respect to each
    positive's localisation error (ranks held constant)."""
    s = scores.double().reshape(-1)
    labels = labels.reshape(-1)
    pos = torch.nonzero(labels == 1).flatten().tolist()
    neg = torch.nonzero(labels == 0).flatten().tolist()
    loc = {k: float(v) for k, v in zip(pos, loc_errors.double().tolist())}
    update = torch.zeros_like(s)
    if not pos:
        return 0.0, 0.0, update, torch.zeros(0, dtype=torch.float64)
    p = len(pos)
    precisions, ranks = [], {}
    for i in pos:
        h_pos = {k: float(h_step(s[k] - s[i], delta)) for k in pos if k != i}
        h_neg = {j: float(h_step(s[j] - s[i], delta)) for j in neg}
        rank_pos = 1 + sum(h_pos.values())
        fp = sum(h_neg.values())
        rank = rank_pos + fp
        ranks[i] = rank
        precisions.append(rank_pos / rank)
        if fp > 1e-5:
            e = (fp + sum(h_pos[k] * loc[k] for k in h_pos)) / rank
            update[i] -= e
            for j in neg:
                update[j] += h_neg[j] * e / fp
    loc_loss = sum(
        sum(loc[k] for k in pos if s[k] >= s[i]) / ranks[i] for i in pos) / p
    loc_grad = torch.tensor(
        [sum(1 / ranks[i] for i in pos if s[i] <= s[k]) / p for k in pos],
        dtype=torch.float64)
    return 1 - sum(precisions) / p, loc_loss, update / p, loc_grad
