"""``RankingStatsHook``: the score ranking of the global mini-batch, and
how far the per-rank rankings are from it."""
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .. import dist
from ..checks import check_number
from ..core.global_ranking import ranking_ap_loss
from ..core.targets import ranking_labels
from ..extras import new_figure
from ..losses.contract import BatchStatsLoss, loss_traits
from ..registry import HOOKS
from .sampled_stats import SampledStatsHook


def batch_ap(scores: Tensor, labels: Tensor, delta: float,
             global_scope: bool) -> Tensor:
    """Interpolated AP of the ranking as AP-loss measures it (``1 -
    loss``); over all ranks' entries when ``global_scope`` (collectives),
    else over this rank's only."""
    out = ranking_ap_loss(scores.detach().float().reshape(-1),
                          labels.reshape(-1), delta, global_scope)
    return 1.0 - out.loss.double()


@HOOKS.register_module()
class RankingStatsHook(SampledStatsHook):
    """Global batch AP of the classification scores, and the score shift
    between ranks, every ``interval`` iterations.

    On measured iterations the inputs of ``loss_cls`` are captured (all
    calls of the iteration, concatenated) and the hook logs, on those
    iterations only, through the message hub: ``ranking/global_ap`` (the
    AP of the ranking of every rank's entries together, as AP-loss with
    ``delta`` measures it; taken from our ``APLoss`` in global mode
    without recomputing), ``ranking/num_pos`` (global positives),
    ``ranking/local_ap_min`` / ``_max`` (each rank ranking only its own
    entries, what per-GPU AP-loss trains on), ``ranking/ap_gap`` (global AP
    minus the mean local AP) and ``ranking/pos_score_spread`` (largest
    minus smallest per-rank mean positive score, sigmoid); the per-rank
    figures only with two or more processes. Every rank takes part in the
    gathers; after training rank 0 plots the series to
    ``work_dir/out_file``.

    Works with any sigmoid classification loss (focal included), so a
    baseline run shows what a ranking loss would see.

    Args:
        interval: Iterations between two measurements.
        delta: Step smoothing of the AP (``APLoss``'s own when the loss
            is one).
        head: Attribute of the detector holding ``loss_cls``.
        out_file: PNG written in the work dir after training.
    """

    def __init__(self,
                 interval: int = 50,
                 delta: float = 1.0,
                 head: str = 'bbox_head',
                 out_file: str = 'ranking_stats.png') -> None:
        super().__init__(interval, head, out_file)
        check_number('delta', delta, low=0, low_open=True)
        self.delta = float(delta)
        self._captured: List[Tuple[Tensor, Tensor]] = []
        self._loss: Optional[nn.Module] = None

    def attach(self, head: nn.Module) -> None:
        loss = getattr(head, 'loss_cls', None)
        if loss is None:
            raise ValueError(f'RankingStatsHook: {self.head} has no '
                             'loss_cls')
        self._loss = loss
        # a ranking loss measures with its own smoothing
        if isinstance(loss, BatchStatsLoss) and loss_traits(loss).ranking:
            delta = loss.ranking_delta()
            if delta is not None:
                self.delta = float(delta)
        self.capture(loss, self._keep)

    def _keep(self, pred: Tensor, target: Tensor,
              weight: Optional[Tensor]) -> None:
        self._captured.append((pred.detach().float().reshape(-1),
                               ranking_labels(pred.detach(), target,
                                              weight).reshape(-1)))

    def reset(self) -> None:
        self._captured = []

    def statistics(self) -> dict:
        """Statistics of the captured iteration (collectives)."""
        device = self._device
        if self._captured:
            scores = torch.cat([s for s, _ in self._captured])
            labels = torch.cat([lab for _, lab in self._captured])
        else:
            scores = torch.zeros(0)
            labels = torch.zeros(0, dtype=torch.int8)
        # on the model's device: NCCL cannot reduce CPU tensors
        scores, labels = scores.to(device), labels.to(device)
        loss = self._loss
        assert loss is not None, 'statistics() before attach()'
        # a global ranking loss has just measured it: no recomputation
        traits = loss_traits(loss)
        snapshot = loss.published_ranking() if isinstance(
            loss, BatchStatsLoss) and traits.ranking else None
        if snapshot is not None and traits.reduces_globally:
            global_ap = 1.0 - snapshot.loss.double().to(device)
        else:
            global_ap = batch_ap(scores, labels, self.delta, True)
        local_ap = batch_ap(scores, labels, self.delta, False)
        pos = labels == 1
        n_pos = pos.sum().double()
        pos_mean = torch.sigmoid(
            scores[pos].double()).sum() / n_pos.clamp(min=1)
        w, r = dist.world_size(), dist.rank()
        table = torch.zeros(w, 3, dtype=torch.float64, device=scores.device)
        table[r] = torch.stack([local_ap.to(table), n_pos, pos_mean])
        table = dist.all_reduce_sum(table).cpu()
        has_pos = table[:, 1] > 0
        local = table[has_pos, 0] if has_pos.any() else table[:, 0]
        means = table[has_pos, 2] if has_pos.any() else table[:, 2]
        return dict(
            global_ap=float(global_ap),
            num_pos=float(table[:, 1].sum()),
            local_ap_min=float(local.min()),
            local_ap_max=float(local.max()),
            ap_gap=float(global_ap) - float(local.mean()),
            pos_score_spread=float(means.max() - means.min()))

    def measure(self, runner) -> Dict[str, Any]:
        stats = self.statistics()
        # with one process the per-rank figures are the global ones:
        # logged only when there is more than one rank to compare
        per_rank = ('local_ap_min', 'local_ap_max', 'ap_gap',
                    'pos_score_spread')
        world = dist.world_size()
        scalars = {
            f'ranking/{key}': value
            for key, value in stats.items() if world > 1 or key not in per_rank
        }
        return dict(scalars=scalars, record=dict(world_size=world, **stats))

    def plot(self, path: str) -> None:
        plot_ranking_stats(self.history, path)


def plot_ranking_stats(history: List[dict], path: str) -> None:
    """Global vs per-rank batch AP and the positive-score spread over
    training."""
    it = [h['iter'] for h in history]
    world = max(h.get('world_size', 1) for h in history)
    fig = new_figure((11, 4), 'RankingStatsHook')
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(it, [h['global_ap'] for h in history], label='global batch AP')
    if world > 1:
        ax1.fill_between(
            it, [h['local_ap_min'] for h in history],
            [h['local_ap_max'] for h in history],
            alpha=0.3,
            label='per-rank AP (min-max)')
    ax1.set_xlabel('iteration')
    ax1.set_ylabel('AP of the batch ranking')
    ax1.legend(fontsize=8)
    ax2.set_xlabel('iteration')
    ax2.set_ylabel('spread of per-rank mean positive score')
    if world > 1:
        ax2.plot(it, [h['pos_score_spread'] for h in history], color='C3')
    else:
        ax2.text(
            0.5,
            0.5, 'one process: no per-rank rankings to compare\n'
            '(train with 2 or more processes)',
            ha='center',
            va='center',
            transform=ax2.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
