"""The project's one GPU check, for a bare accelerator machine: it needs
torch only (mmcv, mmengine and mmdet are not imported; the losses are
loaded without the package's registry, see ``load_losses``).

What it checks, each a row of one table (and a JSON with ``--out``):

* parity: every loss on CUDA float32 against CPU float64, at a COCO-sized
  case (``--entries`` (anchor, class) entries for the classification
  losses, RetinaNet's initial scores);
* mixed precision: fp16 and bf16 scores give finite losses, fp16 within
  5 % of fp32 (bf16's difference is reported: its 8-bit scores tie);
* host syncs: ``torch.cuda.set_sync_debug_mode('warn')`` counts them per
  training call (budget: GHM and the IoU family 0, the ranking losses 1);
* deterministic mode: ``torch.use_deterministic_algorithms(True)`` raises
  nowhere and two runs are bitwise identical;
* peak CUDA memory per entry and forward + backward time (CUDA events,
  median of ``--rounds``) against a sigmoid focal loss of the same size
  (torchvision's when installed, else its formula);
* a 1-rank NCCL group through every global path (the collectives forced
  on, results equal to the local ones);
* an invalid label in a subprocess: a ``ValueError``, not a device assert.

Usage: python tools/gpu_check.py [--entries 8000000] [--out result.json]
(``--device cpu`` runs the same rows on the CPU: a smoke test of the
script itself, no GPU figure.)
"""
import argparse
import importlib
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
import types
import warnings
from contextlib import contextmanager
from typing import Callable, Dict, List, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(ROOT, 'mmdet_lossplus')


class _NullRegistry:
    """Stands for the package's registries: ``register_module`` leaves the
    class as it is (nothing is built from configs here)."""

    def register_module(self, *args, **kwargs):
        return lambda cls: cls


def _stub_package(name: str, path: str) -> None:
    module = types.ModuleType(name)
    module.__path__ = [path]  # submodules import, __init__ does not run
    sys.modules[name] = module


def load_losses() -> types.SimpleNamespace:
    """The loss modules and engines, imported without mmcv/mmengine/mmdet:
    the package and ``losses`` stand as bare packages, the registry as a
    null one, mmengine's ``MessageHub`` (aLRP's ``sb_interval='epoch'``
    only) and mmdet's ``weight_reduce_loss`` (the IoU modules) as stubs
    when those packages are absent. With mmdet installed, prefer
    ``import mmdet_lossplus``."""
    _stub_package('mmdet_lossplus', PACKAGE)
    _stub_package('mmdet_lossplus.losses', osp.join(PACKAGE, 'losses'))
    registry = types.ModuleType('mmdet_lossplus.registry')
    registry.MODELS = registry.HOOKS = registry.TASK_UTILS = _NullRegistry()
    sys.modules['mmdet_lossplus.registry'] = registry
    try:
        importlib.import_module('mmengine.logging')
    except ImportError:
        logging = types.ModuleType('mmengine.logging')
        logging.MessageHub = None  # aLRP reads it for 'epoch' only
        sys.modules.setdefault('mmengine', types.ModuleType('mmengine'))
        sys.modules['mmengine.logging'] = logging
    m = {}
    for name in ('ghmc', 'ghmr', 'ap_loss', 'rank_sort', 'alrp'):
        m[name] = importlib.import_module(f'mmdet_lossplus.losses.{name}')
    fn = importlib.import_module('mmdet_lossplus.functional.iou_losses')
    mb = importlib.import_module('mmdet_lossplus.functional.multibin')
    return types.SimpleNamespace(
        GHMC=m['ghmc'].GHMC,
        GHMR=m['ghmr'].GHMR,
        APLoss=m['ap_loss'].APLoss,
        RankSortLoss=m['rank_sort'].RankSortLoss,
        aLRPLoss=m['alrp'].aLRPLoss,
        iou=fn,
        multibin=mb,
        dist=importlib.import_module('mmdet_lossplus.dist'))


# -- the cases ---------------------------------------------------------------


def cls_case(entries: int, classes: int = 80, seed: int = 0):
    """RetinaNet's initial scores (prior 0.01: logit -4.6), a COCO-like
    1 % of anchors positive, 5 % ignored."""
    g = torch.Generator().manual_seed(seed)
    n = max(entries // classes, 1)
    pred = torch.full((n, classes), -4.595) + 0.5 * torch.randn(
        n, classes, generator=g)
    target = torch.full((n, ), classes, dtype=torch.long)
    pos = torch.rand(n, generator=g) < 0.01
    target[pos] = torch.randint(0, classes, (int(pos.sum()), ), generator=g)
    weight = (torch.rand(n, generator=g) > 0.05).float()
    ious = torch.rand(n, generator=g) * 0.8 + 0.1
    n_pos = int(((target < classes) & (weight > 0)).sum())
    loc = torch.rand(n_pos, generator=g)
    return pred, target, weight, ious, loc


def box_case(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 800
    target = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 200 + 2], 1)
    return target + torch.randn(n, 4, generator=g) * 8, target


def training_calls(L, entries: int) -> Dict[str, Callable]:
    """name -> f(device, dtype) running one forward + backward and
    returning ``(loss values, input gradient)``."""
    pred, target, weight, ious, loc = cls_case(entries)
    boxes, box_target = box_case(max(entries // 80, 1))
    angles = (torch.rand(boxes.shape[0]) * 2 - 1) * math.pi
    spec = L.multibin.make_spec(4, overlap=0.4)
    enc = L.multibin.multibin_encode(angles, spec)
    mb_pred = torch.randn(boxes.shape[0], 12)

    def classify(make, kind='index'):

        def run(device, dtype):
            x = pred.to(device, dtype).detach().clone().requires_grad_()
            loss = make()
            t, w = target.to(device), weight.to(device)
            if kind == 'alrp':
                out = loss(x, t, w, loc_errors=loc.to(device))
            elif kind == 'ranksort':
                out = loss(x, (t, ious.to(device)), w)
            else:
                out = loss(x, t, w)
            out = out if isinstance(out, tuple) else (out, )
            sum(out).backward()
            return [o.detach().double().cpu() for o in out], x.grad

        return run

    def regress(fn, p, t):

        def run(device, dtype):
            x = p.to(device, dtype).detach().clone().requires_grad_()
            out = fn(x, t.to(device, dtype))
            out.sum().backward()
            return [out.detach().sum().double().cpu()], x.grad

        return run

    return {
        'GHM-C':
        classify(lambda: L.GHMC(bins=30, momentum=0.75)),
        'GHM-R':
        regress(lambda x, t: L.GHMR(bins=10, momentum=0.7)(x / 100, t / 100),
                boxes, box_target),
        'GIoU':
        regress(L.iou.giou_loss, boxes, box_target),
        'DIoU':
        regress(L.iou.diou_loss, boxes, box_target),
        'CIoU':
        regress(L.iou.ciou_loss, boxes, box_target),
        'multi-bin':
        regress(lambda x, t: L.multibin.multibin_loss(x, t, spec).cls.sum(),
                mb_pred, enc),
        'AP-loss':
        classify(L.APLoss),
        'Rank & Sort':
        classify(L.RankSortLoss, 'ranksort'),
        'aLRP':
        classify(lambda: L.aLRPLoss(sb_interval=50), 'alrp'),
    }


SYNC_BUDGET = {'AP-loss': 1, 'Rank & Sort': 1, 'aLRP': 1}


def focal_call(entries: int) -> Callable:
    pred, target, weight, _, _ = cls_case(entries)
    c = pred.shape[1]
    onehot = torch.zeros(pred.shape[0], c + 1)
    onehot[torch.arange(pred.shape[0]), target] = 1
    onehot = onehot[:, :c]
    try:
        from torchvision.ops import sigmoid_focal_loss
    except ImportError:

        def sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction='sum'):
            p = torch.sigmoid(x)
            ce = torch.nn.functional.binary_cross_entropy_with_logits(
                x, y, reduction='none')
            p_t = p * y + (1 - p) * (1 - y)
            a_t = alpha * y + (1 - alpha) * (1 - y)
            return (a_t * ce * (1 - p_t)**gamma).sum()

    def run(device, dtype):
        x = pred.to(device, dtype).detach().clone().requires_grad_()
        sigmoid_focal_loss(
            x, onehot.to(device, dtype), reduction='sum').backward()
        return [], x.grad

    return run


# -- the checks --------------------------------------------------------------


def rel_diff(a: List[torch.Tensor], b: List[torch.Tensor]) -> float:
    """Largest relative difference of the loss values."""
    worst = 0.0
    for x, y in zip(a, b):
        worst = max(worst, float((x - y).abs() / y.abs().clamp_min(1e-12)))
    return worst


@contextmanager
def sync_warnings():
    torch.cuda.set_sync_debug_mode('warn')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode(0)


def check_parity(calls, device, rows):
    for name, run in calls.items():
        ref, ref_grad = run('cpu', torch.float64)
        out, grad = run(device, torch.float32)
        rel = rel_diff(out, ref)
        g = (grad.double().cpu() - ref_grad).abs().max().item()
        scale = ref_grad.abs().max().item() or 1.0
        ok = rel < 1e-4 and g / scale < 1e-3
        rows.append(('parity fp32 vs CPU fp64', name, ok,
                     f'loss rel {rel:.1e}, grad {g / scale:.1e} of max'))


def check_low_precision(calls, device, rows):
    for dtype in (torch.float16, torch.bfloat16):
        for name in ('GHM-C', 'AP-loss', 'Rank & Sort', 'aLRP'):
            ref, _ = calls[name](device, torch.float32)
            if torch.device(device).type == 'cuda':
                with torch.autocast(device_type='cuda', dtype=dtype):
                    out, grad = calls[name](device, dtype)
            else:  # CPU autocast takes bf16 only on older torch
                out, grad = calls[name](device, dtype)
            finite = all(bool(torch.isfinite(o))
                         for o in out) and bool(torch.isfinite(grad).all())
            rel = rel_diff(out, ref)
            # bf16 keeps 8 bits of the scores: ties reorder a ranking, so
            # its difference is reported, only finiteness is required
            ok = finite and (rel < 0.05 or dtype == torch.bfloat16)
            rows.append((f'autocast {str(dtype)[6:]}', name, ok,
                         f'finite {finite}, loss rel {rel:.1e} vs fp32'))


def check_syncs(calls, device, rows):
    if torch.device(device).type != 'cuda':
        rows.append(('host syncs', 'all', None, 'CUDA only'))
        return
    for name, run in calls.items():
        run(device, torch.float32)  # warm-up: lazy inits sync
        with sync_warnings() as caught:
            run(device, torch.float32)
        n = sum('synchroniz' in str(w.message) for w in caught)
        budget = SYNC_BUDGET.get(name, 0)
        rows.append(('host syncs per call', name, n
                     <= budget, f'{n} (budget {budget})'))


def check_deterministic(calls, device, rows):
    torch.use_deterministic_algorithms(True)
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    try:
        for name, run in calls.items():
            try:
                a, ga = run(device, torch.float32)
                b, gb = run(device, torch.float32)
                same = all(torch.equal(x, y) for x, y in zip(a, b)) and \
                    torch.equal(ga, gb)
                rows.append(('deterministic mode', name, same,
                             'bitwise equal twice' if same else 'differs'))
            except RuntimeError as err:
                rows.append(('deterministic mode', name, False,
                             str(err).split('\n')[0][:60]))
    finally:
        torch.use_deterministic_algorithms(False)


def _timed(run, device, rounds) -> Tuple[float, float]:
    """(median ms of forward + backward, peak bytes above the start)."""
    cuda = torch.device(device).type == 'cuda'
    times = []
    for _ in range(rounds):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            start, end = torch.cuda.Event(enable_timing=True), \
                torch.cuda.Event(enable_timing=True)
            start.record()
            run(device, torch.float32)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
            peak = torch.cuda.max_memory_allocated() - base
        else:
            t0 = time.perf_counter()
            run(device, torch.float32)
            times.append((time.perf_counter() - t0) * 1e3)
            peak = float('nan')
    times.sort()
    return times[len(times) // 2], peak


def check_speed_memory(calls, focal, device, entries, rounds, rows):
    focal_ms, focal_peak = _timed(focal, device, rounds)
    rows.append(('time / memory', 'sigmoid focal', None,
                 f'{focal_ms:.2f} ms, {focal_peak / entries:.1f} B/entry'))
    for name in ('GHM-C', 'AP-loss', 'Rank & Sort', 'aLRP'):
        ms, peak = _timed(calls[name], device, rounds)
        rows.append(('time / memory', name, None,
                     f'{ms:.2f} ms ({ms / focal_ms:.2f}x focal), '
                     f'{peak / entries:.1f} B/entry'))


def check_one_rank_group(L, device, rows):
    import torch.distributed as td
    backend = 'nccl' if torch.device(device).type == 'cuda' else 'gloo'
    td.init_process_group(
        backend, init_method='tcp://127.0.0.1:29611', rank=0, world_size=1)
    calls = training_calls(L, 200_000)
    try:
        local = {
            n: calls[n](device, torch.float32)
            for n in ('GHM-C', 'AP-loss', 'Rank & Sort', 'aLRP')
        }
        real = L.dist.is_distributed
        L.dist.is_distributed = lambda: True  # the collectives at W = 1
        try:
            for name, want in local.items():
                got = calls[name](device, torch.float32)
                same = all(torch.allclose(x, y, rtol=1e-6)
                           for x, y in zip(got[0], want[0])) and \
                    torch.allclose(got[1], want[1], rtol=1e-5, atol=1e-9)
                rows.append((f'1-rank {backend} global path', name, same,
                             'equal to local' if same else 'differs'))
        finally:
            L.dist.is_distributed = real
    finally:
        td.destroy_process_group()


BAD_LABEL = """
import sys, torch
sys.argv = ['gpu_check']
sys.path.insert(0, {root!r})
from tools.gpu_check import load_losses
L = load_losses()
x = torch.randn(100, 5, device={device!r}, requires_grad=True)
t = torch.full((100, ), 5, device={device!r}); t[3] = 9
try:
    L.APLoss()(x, t).backward()
    print('NO ERROR')
except ValueError as err:
    print('VALUEERROR', err)
"""


def check_bad_label(device, rows):
    proc = subprocess.run(
        [sys.executable, '-c',
         BAD_LABEL.format(root=ROOT, device=device)],
        capture_output=True,
        text=True,
        timeout=300)
    ok = 'VALUEERROR' in proc.stdout and 'labels must be in' in proc.stdout
    rows.append(('invalid label (subprocess)', 'AP-loss', ok,
                 (proc.stdout + proc.stderr).strip().split('\n')[-1][:70]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--entries', type=int, default=8_000_000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--out', default=None, help='JSON of the rows')
    args = parser.parse_args()
    device = args.device
    if device == 'cuda' and not torch.cuda.is_available():
        print('no CUDA device: nothing to check (--device cpu runs the '
              'script on the CPU)')
        return 2
    L = load_losses()
    name = torch.cuda.get_device_name(0) if device == 'cuda' else 'CPU'
    print(
        f'torch {torch.__version__} on {name}; {args.entries} entries',
        flush=True)
    rows: List[tuple] = []
    calls = training_calls(L, args.entries)
    steps = [
        ('parity', lambda: check_parity(calls, device, rows)),
        ('mixed precision', lambda: check_low_precision(calls, device, rows)),
        ('host syncs', lambda: check_syncs(calls, device, rows)),
        ('deterministic', lambda: check_deterministic(calls, device, rows)),
        ('time and memory',
         lambda: check_speed_memory(calls, focal_call(args.entries), device,
                                    args.entries, args.rounds, rows)),
        ('1-rank group', lambda: check_one_rank_group(L, device, rows)),
        ('invalid label', lambda: check_bad_label(device, rows)),
    ]
    for title, step in steps:
        t0 = time.time()
        print(f'>>> {title}', flush=True)
        try:
            step()
        except Exception as err:  # a row, not an abort: the others still run
            rows.append(
                (title, 'all', False, f'{type(err).__name__}: {err}'[:70]))
        print(f'    {time.time() - t0:.0f} s', flush=True)
    print('\n| check | loss | ok | detail |\n|---|---|---|---|')
    for check, loss, ok, detail in rows:
        mark = '-' if ok is None else ('yes' if ok else '**NO**')
        print(f'| {check} | {loss} | {mark} | {detail} |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    torch=torch.__version__,
                    device=name,
                    entries=args.entries,
                    rows=[
                        dict(check=c, loss=n, ok=o, detail=d)
                        for c, n, o, d in rows
                    ]),
                f,
                indent=1)
    return 0 if all(ok is not False for _, _, ok, _ in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
