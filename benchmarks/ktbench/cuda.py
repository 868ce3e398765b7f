"""The suite's contenders on a CUDA device (``benchmarks/run_cuda.py``): cuDNN through kt and through
torch.nn.LSTM, the sequence runner eagerly and replayed from a CUDA graph (its per-step kernel
launches are what a graph removes), and a mask with holes on cuDNN.

Nothing is timed before it is checked: :func:`check` runs every kt contender on the device against
the same layer and weights on the CPU in float64 (the path the parity suite proves against Keras),
outputs and parameter gradients, with and without a mask; a graphed contender is checked against
eager on a new input. The functions take any device, so the CPU runs them in the test suite.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from typing import Any

import torch

from .contenders import Point, _layers, holes_mask
from .timing import ratio

__all__ = ["layers", "check", "graphed", "inference", "training", "section", "COMPARISONS"]

Fn = Callable[[], object]

# (label, ours, other, goal): ratios ours / other, inference unless the label says otherwise.
COMPARISONS: list[tuple[str, str, str, str]] = [
    ("fused LSTM / torch.nn.LSTM (both cuDNN)", "kt LSTM (fused)", "torch.nn.LSTM", "about 1"),
    ("hard_sigmoid LSTM on the runner / fused LSTM", "kt LSTM hard_sigmoid (runner)", "kt LSTM (fused)", ""),
    ("hard_sigmoid LSTM, runner in a CUDA graph / fused LSTM", "kt LSTM hard_sigmoid (runner, CUDA graph)",
     "kt LSTM (fused)", "<= 2 at T=100"),
    ("GRU reset_after=False on the runner / fused GRU", "kt GRU reset_after=False (runner)", "kt GRU (fused)", ""),
    ("GRU reset_after=False, CUDA graph / fused GRU", "kt GRU reset_after=False (runner, CUDA graph)",
     "kt GRU (fused)", "<= 2 at T=100"),
    ("SimpleRNN elu on the runner / fused SimpleRNN", "kt SimpleRNN elu (runner)", "kt SimpleRNN (fused)", ""),
    ("LSTM mask with holes / no mask", "kt LSTM mask=holes (fused)", "kt LSTM (fused)", ""),
]
RUNNERS = ["kt LSTM hard_sigmoid (runner)", "kt GRU reset_after=False (runner)"]


def layers(p: Point, device: torch.device) -> dict[str, torch.nn.Module]:
    """The main suite's layers (seeded, float32), on ``device``."""
    return {k: m.to(device) for k, m in _layers(p).items()}


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _sequence(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


def check(p: Point, device: torch.device, seed: int = 3) -> dict[str, float]:
    """Largest error, relative to the largest magnitude, of each kt contender on ``device`` (float32)
    against the same weights on the CPU in float64: the output sequence, and the gradient of
    sum(output) for every parameter; also with a mask with holes. Raises if one is over 1e-4."""
    x = torch.randn(p.B, p.T, p.F, generator=torch.Generator().manual_seed(seed))
    mask = holes_mask(p, seed)
    errors: dict[str, float] = {}
    for name, mod in layers(p, device).items():
        if not name.startswith("kt"):
            continue
        ref = copy.deepcopy(mod).to("cpu", torch.float64)
        for label, m in ((name, None), (f"{name} mask=holes", mask)):
            mod.zero_grad(set_to_none=True)
            ref.zero_grad(set_to_none=True)
            kw = {} if m is None else {"mask": m.to(device)}
            got = _sequence(mod(x.to(device), **kw))
            want = _sequence(ref(x.double(), **({} if m is None else {"mask": m})))
            got.sum().backward()
            want.sum().backward()
            pairs = [(got, want)] + [(a.grad, b.grad) for a, b in zip(mod.parameters(), ref.parameters())]
            err = max(float((g.detach().cpu().double() - w).abs().max() / w.abs().max().clamp(min=1.0))
                      for g, w in pairs)
            errors[label] = err
            if err > 1e-4:
                raise AssertionError(f"{label} on {device} differs from float64 on the CPU by {err:.3g}")
    return errors


def graphed(mod: torch.nn.Module, x: torch.Tensor) -> tuple[Fn, float]:
    """``mod``'s inference call captured once in a CUDA graph and replayed; returns the replay and
    its largest difference from eager on a new input (copied into the graph's input first)."""
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(side):
        for _ in range(3):  # warm up on a side stream (allocator, cuBLAS handles), as torch's docs do
            mod(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        static_y = _sequence(mod(static_x))
    new = torch.randn(x.shape, generator=torch.Generator().manual_seed(11)).to(x.device)
    static_x.copy_(new)
    graph.replay()
    with torch.no_grad():
        eager = _sequence(mod(new))
    diff = float((static_y - eager).abs().max())

    def replay() -> object:
        graph.replay()
        torch.cuda.synchronize()
        return static_y

    return replay, diff


def inference(p: Point, device: torch.device, graphs: dict[str, Any]) -> dict[str, Fn]:
    """No-grad calls of every contender at ``p``, each ending in a device sync; on CUDA the runner
    layers also replayed from a CUDA graph (the diff from eager, or the capture's error, goes into
    ``graphs``)."""
    mods = layers(p, device)
    x = torch.randn(p.B, p.T, p.F, generator=torch.Generator().manual_seed(2)).to(device)
    mask = holes_mask(p).to(device)
    sync = _sync(device)

    def call(mod: torch.nn.Module, m: torch.Tensor | None = None) -> Fn:
        def run() -> object:
            with torch.no_grad():
                out = mod(x) if m is None else mod(x, mask=m)
            sync()
            return out
        return run

    fns = {name: call(mod) for name, mod in mods.items()}
    fns["kt LSTM mask=holes (fused)"] = call(mods["kt LSTM (fused)"], mask)
    if device.type == "cuda":
        for name in RUNNERS:
            label = name.replace("(runner)", "(runner, CUDA graph)")
            try:
                fns[label], graphs[f"{label} {p.label()}"] = graphed(mods[name], x)
            except Exception as e:  # recorded in the results: the capture itself is a finding
                graphs[f"{label} {p.label()}"] = f"{type(e).__name__}: {e}"[:300]
    return fns


def training(p: Point, device: torch.device) -> dict[str, Fn]:
    """One training step (forward + backward of sum(output), gradients reset first) of every
    contender at ``p``, each ending in a device sync."""
    mods = layers(p, device)
    x = torch.randn(p.B, p.T, p.F, generator=torch.Generator().manual_seed(2)).to(device)
    mask = holes_mask(p).to(device)
    sync = _sync(device)

    def step(mod: torch.nn.Module, m: torch.Tensor | None = None) -> Fn:
        params = list(mod.parameters())

        def run() -> object:
            for q in params:
                q.grad = None
            out = mod(x) if m is None else mod(x, mask=m)
            _sequence(out).sum().backward()
            sync()
            return out
        return run

    fns = {name: step(mod) for name, mod in mods.items()}
    fns["kt LSTM mask=holes (fused)"] = step(mods["kt LSTM (fused)"], mask)
    return fns


def _ms(times: dict[str, list[float]], name: str) -> str:
    return f"{1e3 * statistics.median(times[name]):.3f}" if name in times else "-"


def section(groups: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown section: parity errors, graph checks, ratios per point, ms per call."""
    L = [f"Device: {meta['device']}. {meta['machine']}.  ",
         f"{meta['rounds']} rounds of alternating blocks of about {meta['block_s']} s; every call ends in a "
         f"device sync; wall time {meta['wall_s'] / 60:.1f} min; {meta['date']}. TF32 off (cuDNN and matmul).\n",
         "### Checked first: the device against float64 on the CPU\n",
         "Largest error relative to the largest magnitude (at least 1), over the output and every parameter "
         f"gradient, at {meta['check_point']} (limit 1e-4):\n",
         "| contender | error |", "|---|---:|"]
    L += [f"| {k} | {v:.2e} |" for k, v in meta["check"].items()]
    if meta["graphs"]:
        L += ["\nCUDA graphs (replay on a new input against eager on it: largest difference, or why the "
              "capture failed):\n", "| contender and point | replay - eager |", "|---|---|"]
        L += [f"| {k} | {v:.2e} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in meta["graphs"].items()]
    for pass_ in ("inference", "training"):
        mine = [g for g in groups if g["pass"] == pass_]
        if not mine:
            continue
        labels = [Point(**g["point"]).label() for g in mine]
        L += [f"\n### Ratios, {pass_} (ours / other; below 1: ours is faster)\n",
              "| comparison | goal | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
        for label, a, b, goal in COMPARISONS:
            vals = [f"{ratio(g['times'], a, b):.2f}" if a in g["times"] and b in g["times"] else "-" for g in mine]
            if any(v != "-" for v in vals):
                L.append(f"| {label} | {goal} | " + " | ".join(vals) + " |")
        names = list(dict.fromkeys(n for g in mine for n in g["times"]))
        L += [f"\nMedian ms per call, {pass_}:\n", "| contender | " + " | ".join(labels) + " |",
              "|---|" + "---:|" * len(labels)]
        L += [f"| {n} | " + " | ".join(_ms(g["times"], n) for g in mine) + " |" for n in names]
    return "\n".join(L)
