"""Timing and memory measurement shared by the benchmark scripts.

Each case is measured in a fresh subprocess so that its peak memory is its
own (the quick smoke test measures in-process, trading that isolation for
start-up time). Peak memory is, on CPU, the peak resident set size above the
level reached after the inputs were built and a warm-up call ran (the
kernel's high-water mark is reset before the timed calls where Linux allows
it, so neither imports nor input construction count), and on CUDA
``torch.cuda.max_memory_allocated`` above the memory held before the timed
calls. Timings are the median of several repetitions after a warm-up. Every
case is paired with a straightforward baseline measured in the same run, and
results are reported as ratios, because a shared machine's absolute speed
drifts.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, Optional, Tuple

import torch

Case = Callable[[torch.device], Tuple[Callable[[], torch.Tensor], list]]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_free_memory() -> None:
    """Hand memory freed by earlier calls back to the system, so later peaks are counted in full.

    Without this, the C allocator serves the timed calls from memory that the
    warm-up (or an earlier case in the same process) freed but kept, and the
    resident set does not grow.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark to the current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(build: Case, device: torch.device, backward: bool, repeats: int) -> Dict[str, float]:
    """Run one case in this process: median seconds and peak extra memory (bytes).

    With ``backward`` the timed call is ``run()`` followed by the backward
    pass of ``out.square().mean()`` (or of ``out`` when it is a scalar) into
    the case's leaves; otherwise ``run()`` under ``torch.no_grad()``.
    """
    run, leaves = build(device)

    def once():
        for leaf in leaves:
            leaf.grad = None
        if backward:
            out = run()
            out.square().mean().backward() if out.dim() else out.backward()
        else:
            with torch.no_grad():
                run()
        if device.type == "cuda":
            torch.cuda.synchronize()

    once()  # warm-up: allocator, caches, lazy initialisation
    for leaf in leaves:
        leaf.grad = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        _release_free_memory()
        _reset_peak_rss()
        base = _rss_bytes()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _peak_rss_bytes() - base
    return {"seconds": statistics.median(times), "peak_bytes": max(0, peak)}


def measure_in_subprocess(
    module: str,
    case: str,
    device: str,
    backward: bool,
    repeats: int,
    options: Optional[dict] = None,
) -> Dict[str, float]:
    """Measure ``module.CASES[case]`` in a fresh interpreter and return its figures.

    ``options`` (JSON-serialisable keyword arguments) are passed to
    ``module.configure`` before the case is built.
    """
    configure = f"m.configure(**json.loads({json.dumps(options)!r}));" if options else ""
    code = (
        "import json, sys, torch;"
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r});"
        f"import harness, {module} as m;"
        f"{configure}"
        f"r = harness.measure(m.CASES[{case!r}], torch.device({device!r}), {backward!r}, {repeats!r});"
        "print('RESULT ' + json.dumps(r))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark case {case} failed:\n{proc.stderr}")
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def describe_machine(device: str) -> str:
    """One line naming the hardware and software a table was measured on."""
    import platform

    if device.startswith("cuda"):
        hardware = torch.cuda.get_device_name(0)
    else:
        hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{hardware}; torch {torch.__version__}; Python {platform.python_version()}"
