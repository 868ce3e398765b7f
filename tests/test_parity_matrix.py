"""Generated parity matrix: our layers against Keras 3 and tf-keras computed at test time.

Each case draws (layer type, activation pair, use_bias, return flags, go_backwards,
initial_state, reset_after, dtype, batch, time, features, units, path) from a seeded generator.
The default run covers CASES cases per Keras generation; ``--run-slow`` runs a larger sweep.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn, generation, torch_dtype

import keraslike_torch as kt

CASES = 150
SLOW_CASES = 600

# (activation, recurrent_activation) pairs; Keras 3 and tf-keras both know these names, and
# "hard_sigmoid" means each generation's own definition.
GATED_PAIRS = [
    ("tanh", "sigmoid"), ("tanh", "hard_sigmoid"), ("relu", "hard_sigmoid"), ("linear", "sigmoid"),
    ("softsign", "hard_sigmoid"), ("elu", "sigmoid"), ("tanh", "linear"), ("selu", "tanh"),
    ("swish", "sigmoid"), ("gelu", "hard_sigmoid"), ("softplus", "sigmoid"), ("relu", "tanh"),
]
KERAS3_ONLY_PAIRS = [("hard_silu", "hard_sigmoid"), ("relu6", "sigmoid"), ("mish", "log_sigmoid"),
                     ("tanh", "hard_tanh"), ("sparse_plus", "sparse_sigmoid"), ("celu", "sigmoid")]
SIMPLE_ACTS = ["tanh", "relu", "linear", "hard_sigmoid", "sigmoid", "elu", "softsign", "exponential"]
KERAS3_ONLY_SIMPLE = ["relu6", "hard_tanh", "squareplus", "leaky_relu", "tanh_shrink"]


def draw_case(rng: np.random.Generator, gen: int) -> dict:
    kind = rng.choice(["LSTM", "GRU", "SimpleRNN"])
    kw: dict = {}
    if kind == "SimpleRNN":
        acts = SIMPLE_ACTS + (KERAS3_ONLY_SIMPLE if gen == 3 else [])
        kw["activation"] = str(rng.choice(acts))
    else:
        pairs = GATED_PAIRS + (KERAS3_ONLY_PAIRS if gen == 3 else [])
        act, rec = pairs[rng.integers(len(pairs))]
        kw["activation"], kw["recurrent_activation"] = act, rec
    if kind == "GRU":
        kw["reset_after"] = bool(rng.integers(2))
    kw["use_bias"] = bool(rng.random() < 0.8)
    kw["return_sequences"] = bool(rng.integers(2))
    kw["return_state"] = bool(rng.integers(2))
    kw["go_backwards"] = bool(rng.random() < 0.3)
    # Gates outside [0, 1] (linear, log_sigmoid, tanh) or an exponential activation make the
    # recurrence explode with ordinary weights (values ~1e5 within 8 steps), where rounding
    # differences grow for any two implementations: such cases get smaller weights.
    explosive = kw.get("recurrent_activation") in ("linear", "log_sigmoid", "tanh", "hard_tanh") or (
        kw.get("activation") == "exponential")
    return dict(
        kind=str(kind), kw=kw, dtype=str(rng.choice(["float32", "float64"])),
        scale_factor=0.4 if explosive else 1.5,
        batch=int(rng.integers(1, 5)), time=int(rng.integers(1, 10)),
        features=int(rng.integers(1, 7)), units=int(rng.integers(1, 8)),
        initial_state=bool(rng.random() < 0.4), use_fused=str(rng.choice(["auto", "runner"])),
    )


def run_case(K, case: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    gen = generation(K)
    dtype = case["dtype"]
    scale = case["scale_factor"] / np.sqrt(case["features"] + case["units"])
    layer = build_keras_rnn(K, case["kind"], case["units"], case["features"], dtype, rng, scale, **case["kw"])
    ours = getattr(kt, case["kind"])(
        case["units"], dtype=torch_dtype(dtype), keras_version=gen,
        use_fused=False if case["use_fused"] == "runner" else "auto", **case["kw"],
    )
    ours.set_keras_weights(layer.get_weights())
    x = rng.standard_normal((case["batch"], case["time"], case["features"])).astype(dtype)
    states = None
    if case["initial_state"]:
        n = 2 if case["kind"] == "LSTM" else 1
        states = [rng.standard_normal((case["batch"], case["units"])).astype(dtype) for _ in range(n)]
    try:
        kt.testing.assert_keras_parity(layer, ours, x, initial_state=states)
    except AssertionError as e:
        raise AssertionError(f"case {case}:\n{e}") from None


@pytest.mark.parametrize("index", range(CASES))
def test_parity_case(K, index):
    gen = generation(K)
    case = draw_case(np.random.default_rng([gen, index]), gen)
    run_case(K, case, seed=index)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(SLOW_CASES))
def test_parity_sweep(K, index):
    gen = generation(K)
    case = draw_case(np.random.default_rng([gen, 10_000 + index]), gen)
    run_case(K, case, seed=10_000 + index)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_long_sequence_default_config(K, kind, dtype, rng):
    """A realistic size (100 steps, 32 units) with Keras's own initializers."""
    layer = getattr(K.layers, kind)(32, return_sequences=True, dtype=dtype)
    x = rng.standard_normal((4, 100, 16)).astype(dtype)
    layer(x)
    ours = kt.from_keras(layer)
    assert ours.cell.weight_hh.dtype == torch_dtype(dtype)
    kt.testing.assert_keras_parity(layer, ours, x)


def test_keras2_and_keras3_hard_sigmoid_differ(keras3, tfk, rng):
    """The same weights and the name "hard_sigmoid" give different numbers in the two
    generations; each of our layers matches its own generation and not the other."""
    x = rng.standard_normal((2, 6, 3)).astype("float64")
    k3 = build_keras_rnn(keras3, "LSTM", 4, 3, "float64", rng, scale=1.5, recurrent_activation="hard_sigmoid")
    k2 = tfk.layers.LSTM(4, recurrent_activation="hard_sigmoid", dtype="float64")
    k2.build((None, None, 3))
    k2.set_weights(k3.get_weights())
    diff = np.abs(np.asarray(k3(x)) - np.asarray(k2(x))).max()
    assert diff > 1e-3
    for gen in (3, 2):
        ours = kt.LSTM(4, recurrent_activation="hard_sigmoid", keras_version=gen, dtype=torch.float64)
        ours.set_keras_weights(k3.get_weights())
        kt.testing.assert_keras_parity(k3 if gen == 3 else k2, ours, x)
    ours2 = kt.LSTM(4, recurrent_activation="hard_sigmoid_keras2", dtype=torch.float64)
    ours2.set_keras_weights(k3.get_weights())
    kt.testing.assert_keras_parity(k2, ours2, x)
