"""What the main process times at one shape: kt's fused and runner paths, torch.nn.LSTM,
onnxruntime's LSTM from the same weights (checked against kt first), and the GEMMs alone.

A shape is ``Point(B, T, U)`` with F = U features. Every contender computes the full output
sequence (return_sequences) in float32. A training step is forward + backward of sum(output),
gradients reset to None first (as ``zero_grad()`` does); the input needs no gradient.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

import keraslike_torch as kt

from . import ort_lstm

__all__ = ["Point", "GATES", "gemm_flops", "holes_mask", "inference", "training", "COMPARISONS"]


@dataclass(frozen=True)
class Point:
    B: int
    T: int
    U: int

    @property
    def F(self) -> int:
        return self.U

    def label(self) -> str:
        return f"B={self.B} T={self.T} F=U={self.U}"

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# Gate blocks of each contender's GEMMs (for the FLOP count); a contender absent here is not counted.
GATES: dict[str, int] = {
    "torch.nn.LSTM": 4, "kt LSTM (fused)": 4, "ORT LSTM": 4, "GEMMs only (LSTM)": 4,
    "GEMMs one batched call (LSTM)": 4,
    "kt LSTM hard_sigmoid (runner)": 4, "ORT LSTM HardSigmoid": 4, "kt LSTM mask=holes (fused)": 4,
    "kt LSTM mask=holes (runner)": 4,
    "kt GRU (fused)": 3, "kt GRU reset_after=False (runner)": 3, "GEMMs only (GRU)": 3,
    "kt SimpleRNN (fused)": 1, "kt SimpleRNN elu (runner)": 1, "GEMMs only (SimpleRNN)": 1,
}
GEMMS_ONLY = {4: "GEMMs only (LSTM)", 3: "GEMMs only (GRU)", 1: "GEMMs only (SimpleRNN)"}

# (label, ours, other, goal at inference, goal for a training step): ratios ours / other.
COMPARISONS: list[tuple[str, str, str, str, str]] = [
    ("fused LSTM / torch.nn.LSTM", "kt LSTM (fused)", "torch.nn.LSTM", "about 1", "about 1"),
    ("fused LSTM / onnxruntime LSTM", "kt LSTM (fused)", "ORT LSTM", "< 1", ""),
    ("GEMMs only / fused LSTM", "GEMMs only (LSTM)", "kt LSTM (fused)", "the limit", ""),
    ("hard_sigmoid LSTM / fused LSTM", "kt LSTM hard_sigmoid (runner)", "kt LSTM (fused)", "<= 1.25", "<= 1.5"),
    ("hard_sigmoid LSTM / onnxruntime HardSigmoid", "kt LSTM hard_sigmoid (runner)", "ORT LSTM HardSigmoid",
     "< 1", ""),
    ("GRU reset_after=False / fused GRU", "kt GRU reset_after=False (runner)", "kt GRU (fused)", "<= 1.25", "<= 1.5"),
    ("SimpleRNN elu / fused SimpleRNN", "kt SimpleRNN elu (runner)", "kt SimpleRNN (fused)", "<= 1.25", "<= 1.5"),
    ("LSTM mask with holes / no mask", "kt LSTM mask=holes (fused)", "kt LSTM (fused)", "<= 1.5", "<= 1.5"),
    ("holes on the runner (until 2026-12) / holes fused", "kt LSTM mask=holes (runner)",
     "kt LSTM mask=holes (fused)", "", ""),
    ("GEMMs only / hard_sigmoid LSTM", "GEMMs only (LSTM)", "kt LSTM hard_sigmoid (runner)", "the limit", ""),
    ("GEMMs in one batched call / fused LSTM", "GEMMs one batched call (LSTM)", "kt LSTM (fused)", "", ""),
]


def gemm_flops(p: Point, gates: int, training: bool = False) -> float:
    """FLOPs of the layer's matmuls: the input projection and the recurrent one at every step
    (2 per multiply-add); a training step counts 3x (forward, input gradient, weight gradient)."""
    f = 2.0 * p.T * p.B * (p.F + p.U) * gates * p.U
    return 3 * f if training else f


def holes_mask(p: Point, seed: int = 0) -> torch.Tensor:
    """About 20% of the steps masked at random: holes anywhere (each row's valid steps are
    gathered to the front for the fused kernel)."""
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(p.B, p.T, generator=g) > 0.2
    m[:, 0] = True
    return m


def _layers(p: Point) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    U, F = p.U, p.F
    seq = {"input_size": F, "return_sequences": True}
    return {
        "torch.nn.LSTM": torch.nn.LSTM(F, U, batch_first=True),
        "kt LSTM (fused)": kt.LSTM(U, **seq),
        "kt LSTM hard_sigmoid (runner)": kt.LSTM(U, recurrent_activation="hard_sigmoid_keras2", **seq),
        "kt GRU (fused)": kt.GRU(U, **seq),
        "kt GRU reset_after=False (runner)": kt.GRU(U, reset_after=False, **seq),
        "kt SimpleRNN (fused)": kt.SimpleRNN(U, **seq),
        "kt SimpleRNN elu (runner)": kt.SimpleRNN(U, activation="elu", **seq),
    }


def _on_runner(layer: torch.nn.Module) -> torch.nn.Module:
    """The same layer and weights on the sequence runner (``use_fused=False``): the path masks
    with holes took before they were gathered onto the fused kernel."""
    twin = copy.deepcopy(layer)
    twin.use_fused = False
    return twin


def _gemms_only(p: Point, gates: int) -> Callable[[], object]:
    """The layer's matmuls with no gates, in the runner's layouts: one input projection
    (``F.linear`` with the (G*U, F) weight, as the runner calls it), then one in-place addmm per
    step (the same Python loop a step-wise runner needs)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(p.T * p.B, p.F, generator=g)
    k = torch.randn(gates * p.U, p.F, generator=g) * 0.1
    r = torch.randn(p.U, gates * p.U, generator=g) * 0.1
    h = torch.randn(p.B, p.U, generator=g)

    def run() -> object:
        with torch.no_grad():
            xp = torch.nn.functional.linear(x, k).view(p.T, p.B, gates * p.U)
            for z in xp.unbind(0):
                z.addmm_(h, r)
        return xp

    return run


def _gemms_batched(p: Point, gates: int) -> Callable[[], object]:
    """The same GEMMs with no step loop at all: the input projection and all T recurrent products
    in one (T*B, U) @ (U, G*U) addmm (possible only because nothing here depends on the previous
    step): the rate the matmul library reaches without per-step calls."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(p.T * p.B, p.F, generator=g)
    k = torch.randn(gates * p.U, p.F, generator=g) * 0.1
    r = torch.randn(p.U, gates * p.U, generator=g) * 0.1
    h = torch.randn(p.T * p.B, p.U, generator=g)

    def run() -> object:
        with torch.no_grad():
            return torch.nn.functional.linear(x, k).addmm_(h, r)

    return run


def _ort(layer: kt.LSTM, recurrent_activation: str, x: torch.Tensor, threads: int) -> Callable[[], object]:
    """onnxruntime's LSTM from ``layer``'s weights, checked against ``layer`` on ``x`` first; the
    timed call gets a time-major numpy input prepared outside the timer (ONNX's native layout)."""
    k, r, b = layer.get_keras_weights()
    sess = ort_lstm.session(ort_lstm.lstm_model(k, r, b, recurrent_activation=recurrent_activation), threads)
    x_tbf = np.ascontiguousarray(x.numpy().transpose(1, 0, 2))
    with torch.no_grad():
        want = layer(x).numpy().transpose(1, 0, 2)
    got = ort_lstm.run(sess, x_tbf)
    err = float(np.abs(got - want).max())
    if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise AssertionError(f"onnxruntime LSTM ({recurrent_activation}) differs from kt by {err:.3g}")
    feed = {"x": x_tbf}
    return lambda: sess.run(["y"], feed)


def inference(p: Point, threads: int) -> dict[str, Callable[[], object]]:
    """Inference (no_grad) calls of every contender at ``p``, pairs next to each other."""
    layers = _layers(p)
    x = torch.randn(p.B, p.T, p.F, generator=torch.Generator().manual_seed(2))
    mask = holes_mask(p)

    def call(mod: torch.nn.Module, m: torch.Tensor | None = None) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return mod(x) if m is None else mod(x, mask=m)
        return run

    fns = {name: call(mod) for name, mod in layers.items()}
    lstm, hard = layers["kt LSTM (fused)"], layers["kt LSTM hard_sigmoid (runner)"]
    order = ["torch.nn.LSTM", "kt LSTM (fused)"]
    out = {name: fns[name] for name in order}
    out["ORT LSTM"] = _ort(lstm, "sigmoid", x, threads)  # type: ignore[arg-type]
    out["GEMMs only (LSTM)"] = _gemms_only(p, 4)
    out["GEMMs one batched call (LSTM)"] = _gemms_batched(p, 4)
    out["kt LSTM hard_sigmoid (runner)"] = fns["kt LSTM hard_sigmoid (runner)"]
    out["ORT LSTM HardSigmoid"] = _ort(hard, "hard_sigmoid_keras2", x, threads)  # type: ignore[arg-type]
    out["kt LSTM mask=holes (fused)"] = call(lstm, mask)
    out["kt LSTM mask=holes (runner)"] = call(_on_runner(lstm), mask)
    out["kt GRU (fused)"] = fns["kt GRU (fused)"]
    out["kt GRU reset_after=False (runner)"] = fns["kt GRU reset_after=False (runner)"]
    out["GEMMs only (GRU)"] = _gemms_only(p, 3)
    out["kt SimpleRNN (fused)"] = fns["kt SimpleRNN (fused)"]
    out["kt SimpleRNN elu (runner)"] = fns["kt SimpleRNN elu (runner)"]
    out["GEMMs only (SimpleRNN)"] = _gemms_only(p, 1)
    return out


def training(p: Point) -> dict[str, Callable[[], object]]:
    """One training step (forward + backward of sum(output)) of every trainable contender."""
    layers = _layers(p)
    x = torch.randn(p.B, p.T, p.F, generator=torch.Generator().manual_seed(2))
    mask = holes_mask(p)

    def step(mod: torch.nn.Module, m: torch.Tensor | None = None) -> Callable[[], object]:
        params = list(mod.parameters())

        def run() -> object:
            for q in params:
                q.grad = None
            out = mod(x) if m is None else mod(x, mask=m)
            (out[0] if isinstance(out, tuple) else out).sum().backward()
            return out
        return run

    out = {name: step(mod) for name, mod in layers.items()}
    out["kt LSTM mask=holes (fused)"] = step(layers["kt LSTM (fused)"], mask)
    out["kt LSTM mask=holes (runner)"] = step(_on_runner(layers["kt LSTM (fused)"]), mask)
    return out
