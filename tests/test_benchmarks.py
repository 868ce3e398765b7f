"""The benchmark suite's onnxruntime LSTM (benchmarks/ktbench/ort_lstm.py) computes what kt.LSTM
computes from the same Keras weights, so that its timings compare like with like. A parity check
of the suite's model builder, float32; nothing here is timed."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import keraslike_torch as kt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from ktbench import ort_lstm, timing  # noqa: E402

B, T, F, U = 3, 7, 5, 4


@pytest.fixture(scope="module")
def ort():
    from conftest import require_module

    require_module("onnx")
    return require_module("onnxruntime")


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid_keras2", "hard_sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_ort_lstm_equals_kt(ort, recurrent_activation: str, activation: str, use_bias: bool) -> None:
    layer = kt.LSTM(U, input_size=F, return_sequences=True, recurrent_activation=recurrent_activation,
                    activation=activation, use_bias=use_bias,
                    bias_initializer="random_uniform" if use_bias else "zeros")
    weights = layer.get_keras_weights()
    # inputs large enough to reach both clip edges of hard_sigmoid and its linear middle
    x = np.random.default_rng(0).normal(0.0, 3.0, (B, T, F)).astype(np.float32)
    with torch.no_grad():
        want = layer(torch.from_numpy(x)).numpy()
    model = ort_lstm.lstm_model(weights[0], weights[1], weights[2] if use_bias else None,
                                recurrent_activation=recurrent_activation, activation=activation)
    got = ort_lstm.run(model, x.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert got.shape == want.shape == (B, T, U)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_hard_sigmoid_slopes_differ(ort) -> None:
    """The two hard_sigmoid definitions give different numbers, so the check above tells them apart."""
    layer = kt.LSTM(U, input_size=F, return_sequences=True, recurrent_activation="hard_sigmoid_keras2")
    k, r, b = layer.get_keras_weights()
    x = np.random.default_rng(1).normal(0.0, 1.0, (T, B, F)).astype(np.float32)
    keras2 = ort_lstm.run(ort_lstm.lstm_model(k, r, b, "hard_sigmoid_keras2"), x)
    keras3 = ort_lstm.run(ort_lstm.lstm_model(k, r, b, "hard_sigmoid"), x)
    assert np.abs(keras2 - keras3).max() > 1e-3


def test_unknown_activation_is_named() -> None:
    with pytest.raises(ValueError, match="recurrent_activation 'swish'"):
        ort_lstm.lstm_model(np.ones((2, 8), "f4"), np.ones((2, 8), "f4"), None, recurrent_activation="swish")


def test_suite_doctests(ort) -> None:
    """The examples in the suite's builder and timer docstrings hold (pytest does not collect benchmarks/)."""
    for module in (ort_lstm, timing):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_cuda_suite_runs_its_checks_on_any_device() -> None:
    """benchmarks/run_cuda.py is run once on a lent GPU, with no second try: every contender it
    builds runs here on the CPU, its float64 check passes and catches a wrong layer, and its section
    renders the measured groups (nothing is timed here)."""
    from ktbench import cuda
    from ktbench.contenders import Point

    cpu, p = torch.device("cpu"), Point(2, 5, 4)
    errors = cuda.check(p, cpu)
    assert len(errors) == 12 and max(errors.values()) < 1e-5, errors
    graphs: dict = {}
    fns, steps = cuda.inference(p, cpu, graphs), cuda.training(p, cpu)
    assert graphs == {}  # CUDA graphs are captured on a CUDA device only
    for name, fn in {**fns, **steps}.items():
        out = fn()
        assert torch.isfinite(out[0] if isinstance(out, tuple) else out).all(), name
    groups = [{"point": p.as_dict(), "pass": "inference", "times": {n: [1e-3, 2e-3] for n in fns}}]
    meta = {"device": "CPU", "machine": "m", "rounds": 2, "block_s": 0.01, "wall_s": 1.0, "date": "d",
            "check_point": p.label(), "check": errors,
            "graphs": {"kt LSTM hard_sigmoid (runner, CUDA graph) B=2": 0.0, "x": "RuntimeError: capture"}}
    text = cuda.section(groups, meta)
    assert "| fused LSTM / torch.nn.LSTM (both cuDNN) | about 1 | 1.00 |" in text
    assert "| x | RuntimeError: capture |" in text

    real = cuda.layers

    class OffInFloat32(torch.nn.Module):  # a path that is wrong in float32 only (as a device bug)
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor, **kw: object) -> torch.Tensor:
            y = self.inner(x, **kw)
            return y + 1e-3 if y.dtype == torch.float32 else y

    def wrong(q: Point, device: torch.device) -> dict:
        mods = real(q, device)
        mods["kt GRU reset_after=False (runner)"] = OffInFloat32(mods["kt GRU reset_after=False (runner)"])
        return mods

    cuda.layers = wrong
    try:
        with pytest.raises(AssertionError, match="kt GRU reset_after=False"):
            cuda.check(p, cpu)
    finally:
        cuda.layers = real
