"""``GradientHistogramHook``: the global gradient-norm density of a
detector's classification and regression losses, logged and plotted."""
import json
import os.path as osp
from typing import Any, Dict, Optional, Sequence

import torch
from mmengine.visualization import TensorboardVisBackend
from torch import Tensor, nn

from .. import dist
from ..checks import check_int, check_number
from ..core.targets import binary_targets
from ..extras import new_figure
from ..functional.asl1 import asl1_gradient_norm
from ..functional.ghm import ghm_bin_counts, ghm_bin_index, ghmc_gradient_norm
from ..losses.contract import BatchStatsLoss, loss_traits
from ..registry import HOOKS
from .sampled_stats import SampledStatsHook


def cls_gradient_counts(pred: Tensor, target: Tensor, weight: Optional[Tensor],
                        bins: int) -> Tensor:
    """``[bins]`` float64 histogram of ``g = |sigmoid(x) - y|`` over the
    valid logits (weight > 0) of a sigmoid classifier.

    Args:
        pred: ``[N, C]`` logits.
        target: ``[N]`` class indices (background ``C``) or ``[N, C]``.
        weight: None, ``[N]`` or ``[N, C]`` label weights.
        bins: Number of equal bins on ``[0, 1]``.
    """
    y, valid = binary_targets(pred.detach(), target, weight)
    idx = ghm_bin_index(ghmc_gradient_norm(pred, y), bins, valid)
    return ghm_bin_counts(idx, bins)


def reg_gradient_counts(pred: Tensor, target: Tensor, weight: Optional[Tensor],
                        bins: int, mu: float) -> Tensor:
    """``[bins]`` float64 histogram of ASL1's ``g = |d| / sqrt(d^2 + mu^2)``
    (GHM paper, eq. 12) over the regression entries with weight > 0."""
    valid = (weight > 0) if weight is not None else torch.ones_like(
        pred, dtype=torch.bool)
    if valid.shape != pred.shape:
        valid = valid.reshape(valid.shape + (1, ) *
                              (pred.dim() - valid.dim())).expand_as(pred)
    g = asl1_gradient_norm(pred.detach() - target.detach(), mu)
    return ghm_bin_counts(ghm_bin_index(g, bins, valid), bins)


@HOOKS.register_module()
class GradientHistogramHook(SampledStatsHook):
    """Global gradient-norm histograms of ``loss_cls`` and ``loss_bbox``.

    Every ``interval`` training iterations the hook histograms
    ``g = |sigmoid(x) - y|`` of every valid classification logit and ASL1's
    ``g`` of every positive regression entry (in the loss's own target
    space, e.g. box deltas), summed over all ranks (one all-reduce per
    histogram, every rank takes part). With our ``GHMC``/``GHMR`` losses it
    reuses the histogram the loss has just computed (``last_counts``,
    already global); with any other loss (mmdet's focal and L1 losses,
    say) it computes it from the loss's inputs, captured by a forward
    pre-hook only on those iterations, so other iterations cost nothing.

    Logged through the message hub (log, ``scalars.json``, TensorBoard) on
    the measured iterations only:
    ``grad_hist/{cls,reg}_easy`` (share of entries with ``g <
    easy_thr``), ``grad_hist/{cls,reg}_outlier`` (``g >= outlier_thr``;
    both at bin resolution) and ``grad_hist/{cls,reg}_count``. With a
    ``TensorboardVisBackend`` the histograms are also written as
    TensorBoard histograms. After training, rank 0 plots the densities of
    up to ``max_curves`` logged iterations (log scale, as figure 1 of the
    GHM paper) to ``work_dir/out_file``.

    Args:
        interval: Iterations between two histograms.
        bins: Bins on ``[0, 1]`` for losses that keep no histogram.
        mu: ASL1's ``mu`` for the regression ``g``.
        easy_thr: Upper ``g`` of "easy" entries.
        outlier_thr: Lower ``g`` of "outliers".
        head: Attribute of the detector holding the losses.
        out_file: PNG written in the work dir after training.
        max_curves: Curves per panel in the PNG.
    """

    def __init__(self,
                 interval: int = 50,
                 bins: int = 30,
                 mu: float = 0.02,
                 easy_thr: float = 0.1,
                 outlier_thr: float = 0.9,
                 head: str = 'bbox_head',
                 out_file: str = 'gradient_histograms.png',
                 max_curves: int = 6) -> None:
        super().__init__(interval, head, out_file)
        check_int('bins', bins, 1)
        check_number('mu', mu, low=0, low_open=True)
        check_number('easy_thr', easy_thr, 0, 1, low_open=True, high_open=True)
        check_number('outlier_thr', outlier_thr, 0, 1, high_open=True)
        if not easy_thr <= outlier_thr:
            raise ValueError('need 0 < easy_thr <= outlier_thr < 1, got '
                             f'easy_thr={easy_thr!r}, '
                             f'outlier_thr={outlier_thr!r}')
        check_int('max_curves', max_curves, 1)
        self.bins = bins
        self.mu = float(mu)
        self.easy_thr = float(easy_thr)
        self.outlier_thr = float(outlier_thr)
        self.max_curves = max_curves
        self._losses: Dict[str, nn.Module] = {}
        self._acc: Dict[str, Tensor] = {}

    def attach(self, head: nn.Module) -> None:
        for kind, name in (('cls', 'loss_cls'), ('reg', 'loss_bbox')):
            loss = getattr(head, name, None)
            if loss is None:
                continue
            self._losses[kind] = loss
            if not loss_traits(loss).histogram:
                self.capture(loss, self._counter(kind))

    def _counter(self, kind: str):

        def count(pred: Tensor, target: Tensor,
                  weight: Optional[Tensor]) -> None:
            if kind == 'cls':
                counts = cls_gradient_counts(pred, target, weight, self.bins)
            else:
                counts = reg_gradient_counts(pred, target, weight, self.bins,
                                             self.mu)
            # mmdet heads call their losses once per FPN level: add up
            prev = self._acc.get(kind)
            self._acc[kind] = counts if prev is None else prev + counts

        return count

    def reset(self) -> None:
        self._acc = {}

    def global_counts(self, kind: str) -> Optional[Tensor]:
        """This iteration's global ``[bins]`` counts of ``kind`` (a
        collective when computed from captured inputs)."""
        loss = self._losses.get(kind)
        if loss is None:
            return None
        traits = loss_traits(loss)
        if isinstance(loss, BatchStatsLoss) and traits.histogram:
            counts = loss.published_histogram()
            if counts is None:
                return None
            if not traits.reduces_globally:
                counts = dist.all_reduce_sum(counts.clone())
            return counts.double().cpu()
        counts = self._acc.get(kind)
        if counts is None:  # this rank's loss was not called: still reduce
            counts = torch.zeros(
                self.bins, dtype=torch.float64, device=self._device)
        # on the model's device: NCCL cannot reduce CPU tensors
        return dist.all_reduce_sum(counts.to(self._device)).double().cpu()

    def measure(self, runner) -> Dict[str, Any]:
        scalars: Dict[str, float] = {}
        record: Dict[str, Tensor] = {}
        for kind in ('cls', 'reg'):
            counts = self.global_counts(kind)
            if counts is None:
                continue
            record[kind] = counts
            scalars.update({
                f'grad_hist/{kind}_{key}': value
                for key, value in self.summary(counts).items()
            })
        return dict(scalars=scalars, record=record)

    def summary(self, counts: Tensor) -> dict:
        """Shares of easy entries and outliers, and the count."""
        m = counts.numel()
        total = float(counts.sum())
        easy = float(counts[:int(self.easy_thr * m)].sum())
        outlier = float(counts[int(self.outlier_thr * m):].sum())
        denom = max(total, 1.0)
        return dict(easy=easy / denom, outlier=outlier / denom, count=total)

    def write_record(self, runner, record: dict) -> None:
        """The histograms to TensorBoard, when the run writes there."""
        vis = getattr(runner, 'visualizer', None)
        backend = vis.get_backend('TensorboardVisBackend') if vis else None
        if not isinstance(backend, TensorboardVisBackend):
            return
        writer = backend.experiment
        for kind in ('cls', 'reg'):
            counts = record.get(kind)
            if counts is None or counts.sum() == 0:
                continue
            m = counts.numel()
            edges = torch.arange(1, m + 1, dtype=torch.float64) / m
            centres = edges - 0.5 / m
            writer.add_histogram_raw(
                f'grad_hist/{kind}',
                min=0.0,
                max=1.0,
                num=int(counts.sum()),
                sum=float((counts * centres).sum()),
                sum_squares=float((counts * centres**2).sum()),
                bucket_limits=edges.tolist(),
                bucket_counts=counts.tolist(),
                global_step=record['iter'])

    def plot(self, path: str) -> None:
        plot_gradient_histograms(self.history, path, self.max_curves)
        # the raw counts too, to re-plot or compare runs later
        with open(osp.splitext(path)[0] + '.json', 'w') as f:
            json.dump([{
                k: v.tolist() if torch.is_tensor(v) else v
                for k, v in r.items()
            } for r in self.history], f)


def plot_gradient_histograms(history: Sequence[dict],
                             path: str,
                             max_curves: int = 6) -> None:
    """Log-scale gradient-norm densities, one panel per loss, one curve per
    logged iteration (at most ``max_curves``, evenly spread)."""
    kinds = [k for k in ('cls', 'reg') if any(k in r for r in history)]
    fig = new_figure((5.5 * len(kinds), 4), 'GradientHistogramHook')
    axes = fig.subplots(1, len(kinds), squeeze=False)
    step = max(1, -(-len(history) // max_curves))
    chosen = list(history[::step])
    if history[-1] is not chosen[-1]:
        chosen.append(history[-1])
    titles = dict(
        cls='classification: g = |sigmoid(x) - y|',
        reg='regression: ASL1 g = |d| / sqrt(d^2 + mu^2)')
    for ax, kind in zip(axes[0], kinds):
        for i, record in enumerate(chosen):
            counts = record.get(kind)
            if counts is None or counts.sum() == 0:
                continue
            m = counts.numel()
            density = counts / counts.sum() * m  # per unit of g
            # empty bins break the line instead of diving to a floor
            density[counts == 0] = float('nan')
            centres = (torch.arange(m, dtype=torch.float64) + 0.5) / m
            shade = 0.25 + 0.75 * (i + 1) / len(chosen)
            ax.semilogy(
                centres.numpy(),
                density.numpy(),
                color=(0.1, 0.3, 0.8, shade),
                label=f'iter {record["iter"]}')
        ax.set_xlabel('gradient norm g')
        ax.set_ylabel('density (fraction per unit g, log)')
        ax.set_title(titles[kind], fontsize=10)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
