from .alrp import aLRPLoss
from .ap_loss import APLoss
from .asl1 import ASL1Loss
from .ghmc import GHMC
from .ghmr import GHMR
from .iou_losses import CIoULoss, DIoULoss, GIoULoss, IoULoss
from .multibin import MultiBinLoss
from .rank_sort import RankSortLoss

__all__ = [
    'APLoss', 'ASL1Loss', 'CIoULoss', 'DIoULoss', 'GHMC', 'GHMR', 'GIoULoss',
    'IoULoss', 'MultiBinLoss', 'RankSortLoss', 'aLRPLoss'
]
