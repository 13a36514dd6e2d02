"""The CUDA-behaviour counter of tests/sync_counter.py catches every kind
of host sync, device assertion and deterministic-mode refusal it claims
to (negative controls), and nothing in sync-free code."""
import torch
from sync_counter import count_host_syncs, cuda_behaviour

T = torch.tensor([0, 1, 2])
X = torch.tensor([0.5, -1.0, 2.0])


def test_each_host_sync_is_caught():
    cases = {
        'item': lambda: T.sum().item(),
        'nonzero': lambda: T.nonzero(),
        'masked_select': lambda: torch.masked_select(X, X > 0),
        'unique': lambda: torch.unique(T),
        'bincount': lambda: torch.bincount(T),
        'repeat_interleave without output_size':
        lambda: torch.repeat_interleave(T),
        'Tensor.tolist': lambda: T.tolist(),
        'Tensor.numpy': lambda: X.numpy(),
        'Tensor.cpu': lambda: X.cpu(),
    }
    for kind, fn in cases.items():
        assert count_host_syncs(fn) == {kind: 1}, kind
    # bool(), int() and float() read a scalar too
    assert count_host_syncs(lambda: bool(T.any())) == {'item': 1}
    assert count_host_syncs(lambda: int(T.sum())) == {'item': 1}
    assert count_host_syncs(lambda: float(X.sum())) == {'item': 1}
    # a boolean mask index or index-put sizes from the data
    mask = X > 0
    assert count_host_syncs(lambda: X[mask]) == {'boolean-mask indexing': 1}
    y = X.clone()

    def put():
        y[mask] = 0.0

    assert count_host_syncs(put)['boolean-mask indexing'] == 1
    # a tensor made from Python data: a pageable copy to a CUDA device
    assert count_host_syncs(lambda: X.new_tensor(3.0)) == {
        'host-to-device copy': 1
    }
    assert count_host_syncs(lambda: torch.tensor([1.0, 2.0])) == {
        'host-to-device copy': 1
    }


def test_sync_free_code_counts_nothing():
    idx = torch.tensor([2, 0, 1])

    def free():
        y = X * 2 + 1
        y = y[idx]  # integer indexing
        torch.full((), 3.0)
        torch.zeros(4).index_add_(0, idx, X)
        torch.repeat_interleave(T, T, output_size=3)
        torch.nonzero_static(X > 0, size=2)
        torch.cumsum(T, 0)
        return torch.where(X > 0, X, y).sum()

    mode = cuda_behaviour(free)
    assert dict(mode.syncs) == {} and mode.device_asserts == 0
    assert dict(mode.refused) == {}


def test_device_asserts_are_counted_apart():
    mode = cuda_behaviour(lambda: torch._assert_async(T.sum() > 0))
    assert mode.device_asserts == 1 and dict(mode.syncs) == {}


def test_deterministic_refusals_are_caught():
    w = torch.tensor([0.5, 1.0, 2.0])
    assert dict(cuda_behaviour(lambda: torch.bincount(T, w)).refused) == {
        'bincount with weights': 1
    }
    assert dict(cuda_behaviour(lambda: torch.cumsum(X, 0)).refused) == {
        'floating cumsum': 1
    }
    assert dict(cuda_behaviour(lambda: torch.histc(X)).refused) == {'histc': 1}
    assert dict(cuda_behaviour(lambda: torch.kthvalue(X, 1)).refused) == {
        'kthvalue': 1
    }
    # bincount without weights and integer cumsum are allowed (they sync
    # or not, but do not raise)
    assert dict(cuda_behaviour(lambda: torch.bincount(T)).refused) == {}
    assert dict(cuda_behaviour(lambda: torch.cumsum(T, 0)).refused) == {}
