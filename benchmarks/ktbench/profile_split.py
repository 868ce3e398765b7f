"""Where a call's time goes, from torch.profiler: GEMM, torch's fused RNN kernel, pointwise and
other ATen work, and the rest (Python, the dispatcher, autograd bookkeeping: wall time minus the
self time of every ATen op). The profiler adds its own cost to each op, so the rest is an upper
bound on the overhead; compare the profiled wall time with the unprofiled one.

>>> import torch
>>> s = split(lambda: torch.mm(torch.ones(8, 8), torch.ones(8, 8)), calls=2)
>>> sorted(s)
['fused_ms', 'gemm_ms', 'ops', 'other_ms', 'pointwise_ms', 'wall_ms']
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["split", "GEMM_OPS", "FUSED_OPS"]

GEMM_OPS = frozenset({"aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm", "aten::mv",
                      "aten::addmv", "aten::addmv_", "aten::dot", "aten::_mkldnn_matmul"})
FUSED_OPS = frozenset({"aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward", "aten::_thnn_fused_lstm_cell",
                       "aten::_thnn_fused_gru_cell", "aten::_thnn_fused_lstm_cell_backward_impl",
                       "aten::_thnn_fused_gru_cell_backward"})


def split(fn: Callable[[], object], calls: int = 3, warmup: int = 1) -> dict[str, float]:
    """Per-call milliseconds of ``fn`` by category (``ops``: ATen ops per call)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        fn()
    with profile(activities=[ProfilerActivity.CPU]):  # the profiler's own first-use setup, untimed
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        wall = (time.perf_counter() - t0) * 1e6
    gemm = fused = pointwise = 0.0
    ops = 0
    for e in prof.events():
        if not e.name.startswith("aten::"):
            continue
        ops += 1
        s = float(e.self_cpu_time_total)
        if e.name in GEMM_OPS:
            gemm += s
        elif e.name in FUSED_OPS:
            fused += s
        else:
            pointwise += s
    per = 1e3 * calls
    return {"wall_ms": wall / per, "gemm_ms": gemm / per, "fused_ms": fused / per, "pointwise_ms": pointwise / per,
            "other_ms": max(wall - gemm - fused - pointwise, 0.0) / per, "ops": ops / calls}
