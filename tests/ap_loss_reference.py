"""Plain O(P*N) transcription of AP-loss's definitions (docs/design.md), in
float64 Python loops, used only to check the fast engine."""
import math


def h(x, delta):
    return min(max(x / (2 * delta) + 0.5, 0.0), 1.0)


def reference_ap_loss(scores, labels, delta):
    """Returns (loss, update list) straight from the definitions."""
    pos = [i for i, l in enumerate(labels) if l == 1]
    neg = [j for j, l in enumerate(labels) if l == 0]
    update = [0.0] * len(scores)
    if not pos:
        return 0.0, update
    rank, fp, prec = {}, {}, {}
    for i in pos:
        rank[i] = 1 + sum(
            h(scores[k] - scores[i], delta) for k in pos if k != i)
        fp[i] = sum(h(scores[j] - scores[i], delta) for j in neg)
        prec[i] = rank[i] / (rank[i] + fp[i])
    interp = {
        i: max(prec[k] for k in pos if scores[k] <= scores[i])
        for i in pos
    }
    n_pos = len(pos)
    loss = 1 - sum(interp.values()) / n_pos
    for i in pos:
        update[i] = -(1 - interp[i]) / n_pos
    for j in neg:
        total = 0.0
        for i in pos:
            if interp[i] > prec[i]:
                w = (1 - interp[i]) / (1 - prec[i])
            else:
                w = 1.0
            total += w * h(scores[j] - scores[i], delta) / (rank[i] + fp[i])
        update[j] = total / n_pos
    assert all(math.isfinite(u) for u in update)
    return loss, update
