from .ap_loss import APLoss
from .asl1 import ASL1Loss
from .ghmc import GHMC
from .ghmr import GHMR

__all__ = ['APLoss', 'ASL1Loss', 'GHMC', 'GHMR']
