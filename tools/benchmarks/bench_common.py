"""What the loss benchmarks share: each case in a fresh process (so that
its peak resident memory is its own), the memory measure, and how ratios
over rounds are printed."""
import json
import resource
import statistics
import subprocess
import sys


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_in_fresh_process(script: str, args: list) -> dict:
    """Run ``python script *args`` in a fresh process; its last output line
    as JSON. Raises SystemExit with the case's error output on failure."""
    proc = subprocess.run(
        [sys.executable, script] + list(args), capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f'{" ".join(args)} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values) -> str:
    """``median x (min-max)`` of per-round ratios (``median x`` for one)."""
    med = statistics.median(values)
    return f'{med:.2f}x ({min(values):.2f}-{max(values):.2f})' \
        if len(values) > 1 else f'{med:.2f}x'
