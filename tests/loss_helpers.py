"""What the loss tests share: a module's value and input gradient, and
the per-entry labels the reference transcriptions take."""
import torch


def loss_and_grad(module, pred, *args, **kwargs):
    """``(loss, d loss.sum() / d pred)`` of ``module(pred, ...)`` on a
    copy of ``pred``."""
    x = pred.clone().requires_grad_()
    loss = module(x, *args, **kwargs)
    loss.sum().backward()
    return loss.detach(), x.grad


def entry_labels(labels, weights, c):
    """``[N * C]`` labels of the (anchor, class) entries: 1 at the
    anchor's class (``0 <= label < C``), 0 elsewhere, -1 on every entry of
    an anchor whose weight is <= 0."""
    n = labels.numel()
    lab = torch.zeros(n, c, dtype=torch.long)
    pos = (labels >= 0) & (labels < c)
    lab[torch.arange(n)[pos], labels[pos]] = 1
    lab[weights <= 0] = -1
    return lab.reshape(-1)
