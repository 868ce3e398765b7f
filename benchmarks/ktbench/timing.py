"""Alternating-block timing and the machine line.

Contenders of one group are timed in alternating blocks (A-block, B-block, C-block, A-block, ...):
a block is as many back-to-back calls as fill about ``block_s`` seconds (at least one), and its time
per call is one sample. Load from other processes then hits every contender alike; each reports
the median of its samples, and a ratio of two contenders is the median of their per-round ratios.

>>> t = alternating({"a": lambda: None, "b": lambda: None}, rounds=3, block_s=0.0, warmup=1, settle_s=0)
>>> sorted(t), len(t["a"])
(['a', 'b'], 3)
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["alternating", "ratio", "median", "machine", "versions"]


def alternating(fns: dict[str, Callable[[], object]], rounds: int, block_s: float,
                warmup: int = 2, settle_s: float = 0.05) -> dict[str, list[float]]:
    """Seconds per call of each function: ``rounds`` samples each, from alternating blocks.

    The process sleeps ``settle_s`` before each block: thread pools keep spinning for a while
    after their last task (onnxruntime's by default, OpenMP's too), and a block started at once
    would share the cores with the previous contender's spinning threads (measured with
    onnxruntime in the group: the contender timed next ran up to 2.4x slower). One untimed call
    then starts each block.
    """
    once: dict[str, float] = {}
    for name, fn in fns.items():
        for _ in range(max(warmup, 1)):
            t0 = time.perf_counter()
            fn()
            once[name] = time.perf_counter() - t0
    calls = {name: max(1, int(block_s / max(t, 1e-9))) for name, t in once.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = calls[name]
            time.sleep(settle_s)
            fn()  # untimed: the threads and caches wake up on it
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n)
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of time(a) / time(b): below 1 means ``a`` is faster."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Versions of Python and of every package the suite measures or uses (those installed)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "onnx", "onnxruntime", "tensorflow", "keras", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine(threads: int) -> str:
    """One line: CPU, cores, threads used, load average, versions, the repository commit."""
    try:
        load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    return (f"{_cpu_name()}, {os.cpu_count()} logical cores, {threads} thread(s) per framework; {load} at the "
            f"start; {vers}" + (f"; keraslike_torch at commit {commit}" if commit else ""))
