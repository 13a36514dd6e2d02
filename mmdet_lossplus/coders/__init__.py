from .angle_coders import RawAngleCoder, SinCosAngleCoder, wrap_angle
from .multibin_coder import MultiBinCoder

__all__ = ['MultiBinCoder', 'RawAngleCoder', 'SinCosAngleCoder', 'wrap_angle']
