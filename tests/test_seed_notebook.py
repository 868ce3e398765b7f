"""The seed notebook: Keras LSTM(1) on input (3, 1), four ways, against both Keras generations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from kutil import generation

import keraslike_torch as kt

FLAGS = [
    dict(),
    dict(return_sequences=True),
    dict(return_state=True),
    dict(return_sequences=True, return_state=True),
]
DATA = np.array([0.1, 0.2, 0.3]).reshape((1, 3, 1))


@pytest.mark.parametrize("flags", FLAGS, ids=["plain", "sequences", "state", "both"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_seed_cell(K, flags, dtype):
    inputs = K.Input(shape=(3, 1), dtype=dtype)
    layer = K.layers.LSTM(1, dtype=dtype, **flags)
    model = K.Model(inputs, layer(inputs))
    assert model.count_params() == 12

    ours = kt.LSTM(1, dtype=kt_dtype(dtype), keras_version=generation(K), **flags)
    ours.set_keras_weights(layer.get_weights())
    assert sum(p.numel() for p in ours.parameters()) == 12
    data = DATA.astype(dtype)
    report = kt.testing.assert_keras_parity(model, ours, data)
    expected_outputs = (2 if flags.get("return_state") else 0) + 1
    assert len(report.diffs) == expected_outputs
    # the model's outputs equal the layer's: h is the last output when nothing is masked
    out = ours(torch.from_numpy(data))
    if flags.get("return_state") and flags.get("return_sequences"):
        torch.testing.assert_close(out[0][:, -1], out[1], rtol=0, atol=0)


def kt_dtype(dtype: str) -> torch.dtype:
    return getattr(torch, dtype)


def test_seed_summary_counts_twelve(keras3):
    text = kt.summary(kt.LSTM(1), (None, 3, 1), print_fn=None)
    assert "│ lstm (LSTM)" in text and "(None, 1)" in text
    assert "Total params: 12 (48.00 B)" in text
    assert "Trainable params: 12 (48.00 B)" in text
    m = keras3.Sequential([keras3.Input((3, 1)), keras3.layers.LSTM(1)])
    assert m.count_params() == 12


def test_demo_script_agrees(keras3):
    path = Path(__file__).resolve().parents[1] / "examples" / "seed_notebook.py"
    spec = importlib.util.spec_from_file_location("seed_notebook", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    lines: list[str] = []
    diffs = mod.run(print_fn=lines.append)
    assert len(diffs) == 4 and max(diffs) <= 1e-6
    assert any("Total params: 12" in line for line in lines)
