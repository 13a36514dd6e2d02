"""Pure torch functions (no mmdet/mmengine import): the maths of the losses."""
from .asl1 import asl1_gradient_norm, asl1_loss
from .ghm import (ghm_bin_counts, ghm_bin_index, ghm_density, ghm_ema_update,
                  ghm_weights, ghmc_gradient_norm, with_gradient)

__all__ = [
    'asl1_gradient_norm', 'asl1_loss', 'ghm_bin_index', 'ghm_bin_counts',
    'ghm_density', 'ghm_ema_update', 'ghm_weights', 'ghmc_gradient_norm',
    'with_gradient'
]
