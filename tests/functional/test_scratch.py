"""ScratchBuffers: reuse on CPU, growth, and copies that start empty."""
import copy
import pickle

import torch

from mmdet_lossplus.functional.scratch import ScratchBuffers, scratch_tensor


def test_cpu_buffers_are_reused_and_viewed_to_the_shape_asked():
    s = ScratchBuffers()
    a = s.get('a', (10, 3), torch.float32, 'cpu')
    b = s.get('a', (4, 5), torch.float32, 'cpu')  # smaller: same memory
    assert a.shape == (10, 3) and b.shape == (4, 5)
    assert a.data_ptr() == b.data_ptr()
    assert s.nbytes() == 30 * 4
    other = s.get('b', (4, 5), torch.float32, 'cpu')
    assert other.data_ptr() != b.data_ptr()


def test_grows_and_changes_dtype_on_demand():
    s = ScratchBuffers()
    s.get('a', (4, ), torch.float32, 'cpu')
    big = s.get('a', (100, ), torch.float32, 'cpu')
    assert big.numel() == 100 and s.nbytes() == 400
    ints = s.get('a', (100, ), torch.int32, 'cpu')
    assert ints.dtype == torch.int32
    empty = s.get('a', (0, 4), torch.int32, 'cpu')
    assert empty.shape == (0, 4)


def test_reuse_off_for_other_devices_or_when_disabled():
    auto = ScratchBuffers()
    m1 = auto.get('a', (8, ), torch.float32, 'meta')
    assert m1.device.type == 'meta' and auto.nbytes() == 0
    off = ScratchBuffers(enabled=False)
    x = off.get('a', (8, ), torch.float32, 'cpu')
    y = off.get('a', (8, ), torch.float32, 'cpu')
    assert x.data_ptr() != y.data_ptr() and off.nbytes() == 0
    fresh = scratch_tensor(None, 'a', (2, 2), torch.int32, 'cpu')
    assert fresh.shape == (2, 2) and fresh.dtype == torch.int32


def test_copies_start_empty_and_clear_releases():
    s = ScratchBuffers()
    s.get('a', (1000, ), torch.float32, 'cpu')
    assert copy.deepcopy(s).nbytes() == 0
    assert pickle.loads(pickle.dumps(s)).nbytes() == 0
    s.clear()
    assert s.nbytes() == 0
