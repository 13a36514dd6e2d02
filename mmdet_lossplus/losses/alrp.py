"""aLRP loss (mmdet adapter): one ranking-based loss for classification
and localisation, with its self-balancing weight as checkpointed state."""
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from mmengine.logging import MessageHub
from torch import Tensor

from .. import dist
from ..checks import DeferredChecks, check_int, check_number
from ..core.global_ranking import ranking_alrp_loss
from ..core.ranking_updates import UpdatePart
from ..core.targets import ranking_labels
from ..registry import MODELS
from .contract import LossTraits
from .ranking_loss import RankingLoss

# (SB weight, accumulated sums, calls, epoch): a skipped step's rollback
Snapshot = Tuple[Tensor, Tensor, int, Optional[int]]


@MODELS.register_module()
class aLRPLoss(RankingLoss):  # noqa: N801 (the paper's name)
    """aLRP loss (Oksuz et al., NeurIPS 2020) for sigmoid heads.

    Returns two parts: the classification part (ranking-based; its update
    includes the localisation errors of the positives ranked above each
    positive) and the localisation part ``SB * mean_i (sum_{s_k >= s_i}
    l_k) / rank(i)``, whose gradient reaches the box branch through the
    per-positive errors ``l_k`` (the authors': GIoU loss). See
    :mod:`mmdet_lossplus.functional.alrp` for the definitions.

    The self-balancing weight ``SB`` (state, saved in checkpoints as the
    ``sb_weight`` buffer and ``_extra_state``): it starts at ``sb_init``
    and, every ``sb_interval``, becomes ``(mean loc + mean cls) / mean loc``
    over the calls with positives since the last update (the authors: 50,
    one epoch). The running sums are summed over ranks at each update (one
    all-reduce per interval), so ``SB`` is identical on every rank in both
    scopes; ``LossStateCheckHook`` checks it. The authors count only
    iterations with positives towards the interval; here every training
    call counts (ranks must agree on when to all-reduce).

    ``scope='global'`` (default): one ranking over every process's
    examples, the positives' scores and localisation errors gathered (O(P)
    numbers), loss values identical on every rank and DDP-averaged
    gradients equal to one process on the union. ``'local'``: each process
    alone (the authors' code).

    Args:
        delta: Half-width of the step's ramp, >= 0 (paper: 1.0).
        sb_init: Initial self-balancing weight, > 0 (paper: 50).
        sb_interval: Calls between updates of ``SB`` (int >= 1) or
            ``'epoch'``: at the first call of each new training epoch, as
            published by mmengine's ``RuntimeInfoHook`` (the paper). An
            iteration-based loop stays in epoch 0: give an int there.
        loss_weight: Multiplier of both parts.
        scope: ``'global'`` (default) or ``'local'``.
        use_sigmoid: Must be True.
    """

    sb_weight: Tensor  # a buffer (typed for the checker)

    def __init__(self,
                 delta: float = 1.0,
                 sb_init: float = 50.0,
                 sb_interval: Union[int, str] = 'epoch',
                 loss_weight: float = 1.0,
                 scope: Optional[str] = None,
                 use_sigmoid: bool = True) -> None:
        super().__init__(delta, loss_weight, scope, use_sigmoid)
        check_number('sb_init', sb_init, low=0, low_open=True)
        if sb_interval != 'epoch':
            if isinstance(sb_interval, str):
                raise ValueError("sb_interval must be an int >= 1 or 'epoch',"
                                 f' got {sb_interval!r}')
            check_int('sb_interval', sb_interval, 1)
        self.sb_init = float(sb_init)
        self.sb_interval = sb_interval
        self.register_buffer('sb_weight',
                             torch.tensor(self.sb_init, dtype=torch.float64))
        # running sums since the last update: (cls, loc, calls with
        # positives). Not a buffer: DDP would overwrite every rank's with
        # rank 0's at each forward, and in local scope they differ.
        self._sums = torch.zeros(3, dtype=torch.float64)
        self._calls = 0
        self._epoch: Optional[int] = None

    # -- contract -----------------------------------------------------------
    def traits(self) -> LossTraits:
        return LossTraits(
            reduces_globally=self.global_scope, ranking=True, stateful=True)

    def state_vector(self) -> Tensor:
        """``[SB, calls since the last update]`` (plus the running sums in
        global scope, where they are identical on every rank too)."""
        parts = [
            self.sb_weight.reshape(1),
            self.sb_weight.new_tensor([float(self._calls)])
        ]
        if self.global_scope:
            parts.append(self._sums.to(self.sb_weight.device))
        return torch.cat(parts)

    def state_snapshot(self) -> Snapshot:
        return (self.sb_weight.clone(), self._sums.clone(), self._calls,
                self._epoch)

    def restore_state(self, snapshot: Snapshot) -> None:
        sb_weight, sums, self._calls, self._epoch = snapshot
        self.sb_weight.copy_(sb_weight)
        self._sums = sums.clone()

    # -- checkpointed state -------------------------------------------------
    def get_extra_state(self) -> Tensor:
        """``[sum 1, sum 2, sum 3, calls, epoch]`` in float64 (epoch -1:
        none yet). A tensor, not a dict: mmengine's Runner broadcasts every
        ``state_dict`` value from rank 0 after ``init_weights``, and its
        ``broadcast`` takes tensors only."""
        epoch = -1 if self._epoch is None else self._epoch
        return torch.cat([
            self._sums.detach().cpu().to(torch.float64),
            torch.tensor([float(self._calls), float(epoch)],
                         dtype=torch.float64)
        ])

    def set_extra_state(self, state: Any) -> None:
        if isinstance(state,
                      dict) and set(state) == {'sums', 'calls', 'epoch'}:
            # the dict of earlier versions
            sums, calls, epoch = state['sums'], state['calls'], state['epoch']
        elif torch.is_tensor(state) and state.shape == (5, ):
            state = state.to(torch.float64)
            sums, counts = state[:3], state[3:]
            if not torch.isfinite(counts).all() or \
                    (counts != counts.round()).any():
                raise ValueError('aLRPLoss: the checkpoint\'s call count / '
                                 f'epoch are not integers ({counts!r}): the '
                                 'aLRP state is corrupted')
            calls, epoch = (int(v) for v in counts.tolist())
            epoch = None if epoch == -1 else epoch
        else:
            raise ValueError(
                'aLRPLoss: the checkpoint\'s _extra_state must be a float64 '
                '[5] tensor (running sums, calls, epoch); got '
                f'{state!r}')
        if not torch.is_tensor(sums) or sums.shape != (3, ) or \
                not torch.isfinite(sums).all() or (sums < 0).any():
            raise ValueError('aLRPLoss: the checkpoint\'s running sums must '
                             'be three finite non-negative numbers; got '
                             f'{sums!r}: the aLRP state is corrupted')
        if isinstance(calls, bool) or not isinstance(calls, int) or \
                calls < 0 or not (epoch is None or (
                    isinstance(epoch, int) and not isinstance(epoch, bool)
                    and epoch >= 0)):
            raise ValueError('aLRPLoss: the checkpoint\'s call count / epoch '
                             f'are invalid ({calls!r}, {epoch!r})')
        self._sums = sums.to(torch.float64).clone()
        self._calls, self._epoch = calls, epoch

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str,
                              local_metadata: Dict[str, Any], strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        sb = state_dict.get(prefix + 'sb_weight')
        if sb is not None and (sb.numel() != 1
                               or not bool(torch.isfinite(sb).all())
                               or float(sb) <= 0):
            raise ValueError(f'{prefix}sb_weight in the checkpoint must be a '
                             f'finite number > 0, got {sb!r}: the aLRP '
                             'state is corrupted')
        ours = (prefix + 'sb_weight', prefix + '_extra_state')
        absent = not any(k in state_dict for k in ours)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if absent:
            # a checkpoint trained with another loss (e.g. a RetinaNet from
            # the model zoo): start the self-balance afresh, as a new run
            for key in ours:
                if key in missing_keys:
                    missing_keys.remove(key)

    # -- self-balance -------------------------------------------------------
    def _update_due(self) -> bool:
        if isinstance(self.sb_interval, int):
            return self._calls >= self.sb_interval
        epoch = MessageHub.get_current_instance().get_info('epoch')
        if epoch is None:
            return False
        if self._epoch is None:
            self._epoch = epoch
        return bool(epoch != self._epoch)

    @torch.no_grad()
    def _self_balance(self, cls_loss: Tensor, loc_loss: Tensor,
                      num_pos: Tensor) -> None:
        """Accumulate this call and re-estimate SB when due (no host
        sync). As the authors, a call that completes an interval of
        ``sb_interval`` calls is part of it and already uses the new
        weight; a new epoch re-estimates from the previous one's calls."""
        by_epoch = self.sb_interval == 'epoch'
        if by_epoch and self._update_due():
            self._rebalance()
        has_pos = (num_pos > 0).double()
        step = torch.stack([cls_loss.double(), loc_loss.double(), has_pos])
        # a non-finite call (a mixed-precision overflow, skipped by the
        # scaler) does not count towards the estimate
        step = torch.where(
            torch.isfinite(step).all(), step, torch.zeros_like(step))
        self._sums = self._sums.to(cls_loss.device) + step
        self._calls += 1
        if not by_epoch and self._update_due():
            self._rebalance()

    def _rebalance(self) -> None:
        sums = self._sums.to(self.sb_weight.device)
        if dist.is_distributed():  # every rank reaches this together
            sums = dist.all_reduce_sum(sums)
        self.sb_weight.copy_(
            torch.where(sums[1] > 0, 1.0 + sums[0] / sums[1].clamp_min(1e-300),
                        self.sb_weight))
        self._sums = torch.zeros_like(self._sums)
        self._calls = 0
        if self.sb_interval == 'epoch':
            self._epoch = MessageHub.get_current_instance().get_info('epoch')

    # -- the loss -----------------------------------------------------------
    def forward(self,
                pred: Tensor,
                target: Tensor,
                label_weight: Optional[Tensor] = None,
                *,
                loc_errors: Tensor,
                **kwargs: Any) -> Tuple[Tensor, Tensor]:
        """``(classification part, SB * localisation part)``, times
        ``loss_weight``.

        Args:
            pred: ``[N, C]`` classification logits.
            target: ``[N]`` class indices with background ``C``.
            label_weight: ``[N]`` or ``[N, C]``; entries <= 0 are ignored.
            loc_errors: ``[P]`` localisation error of every positive anchor
                (``0 <= target < C``, ``label_weight > 0``), in anchor
                order, with its graph (e.g. ``GIoULoss(reduction='none')``
                of the decoded boxes).
        """
        if not torch.is_tensor(target) or target.dim() != 1:
            raise ValueError('target must be [N] class indices for aLRPLoss '
                             '(one positive class per anchor)')
        if not torch.is_tensor(loc_errors) or loc_errors.dim() != 1 or \
                not loc_errors.is_floating_point():
            raise TypeError('loc_errors must be a 1-D float tensor, one '
                            'error per positive anchor')
        checks = DeferredChecks()  # read with the counts: one host read
        labels = ranking_labels(pred, target, label_weight, deferred=checks)
        out = ranking_alrp_loss(pred.detach(), labels, loc_errors.detach(),
                                self.delta, self.global_scope, checks)
        cls_loss, = self.attach_updates(pred,
                                        [UpdatePart(out.cls_loss, out.update)])
        local = (out.loc_weights.to(loc_errors.dtype) * loc_errors).sum()
        if self.global_scope:
            local = dist.global_value(local)
        if self.training:
            self._self_balance(out.cls_loss, out.loc_loss, out.num_pos)
        loc_loss = local * self.sb_weight.to(local.dtype)
        return cls_loss, loc_loss * self.loss_weight

    def extra_repr(self) -> str:
        return (f'delta={self.delta}, sb_init={self.sb_init}, '
                f'sb_interval={self.sb_interval!r}, scope={self.scope!r}')
