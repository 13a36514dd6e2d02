"""``MultiBinCoder``: the multi-bin encoding as a task util for heads."""
import math

from torch import Tensor

from ..checks import check_choice
from ..functional.multibin import make_spec, multibin_decode, multibin_encode
from ..registry import TASK_UTILS
from .angle_coders import check_decode_input


@TASK_UTILS.register_module()
class MultiBinCoder:
    """Encode a scalar target (by default an angle in radians) into
    ``num_bins`` overlapping bins, and decode predictions back.

    See :mod:`mmdet_lossplus.functional.multibin` for the maths and the
    channel layout (``channels = num_bins * (1 + R)``).

    Args:
        num_bins: Number of bins, >= 2.
        low, high: The range; a periodic range wraps ``high`` to ``low``.
        periodic: Whether the target is periodic (an angle).
        overlap: In [0, 1): each bin covers ``(1 + overlap)`` times its
            width, so neighbouring bins share targets near their border.
        decode_mode: ``'argmax'`` (most confident bin plus its residual) or
            ``'expectation'`` (probability-weighted circular mean).
    """

    def __init__(self,
                 num_bins: int = 4,
                 low: float = -math.pi,
                 high: float = math.pi,
                 periodic: bool = True,
                 overlap: float = 0.0,
                 decode_mode: str = 'argmax') -> None:
        self.spec = make_spec(num_bins, low, high, periodic, overlap)
        check_choice('decode_mode', decode_mode, ('argmax', 'expectation'))
        self.decode_mode = decode_mode

    @property
    def channels(self) -> int:
        """Prediction channels per box."""
        return self.spec.channels

    def encode(self, target: Tensor) -> Tensor:
        """``[N]`` targets -> ``[N, channels]`` memberships and residuals."""
        return multibin_encode(target, self.spec)

    def decode(self, pred: Tensor) -> Tensor:
        """``[N, channels]`` predictions -> ``[N]`` values (NaN where a
        logit is not finite)."""
        check_decode_input(pred, self.channels)
        return multibin_decode(pred, self.spec, self.decode_mode)
