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
