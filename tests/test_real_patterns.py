"""The layer combinations of the real RNN files issue 11 collected, end to end: a CNN-LSTM
(TimeDistributed Conv2D -> MaxPooling2D -> Flatten -> LSTM), a ConvLSTM2D stack with
MaxPooling3D and BatchNormalization, and an LSTM encoder with hand-built and Keras attention.
Each is written by Keras 3 (``.keras``) and by tf-keras (``.h5``), loaded with ``kt.load_model``
and compared with that Keras's ``predict``, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import torch_dtype

import keraslike_torch as kt


def _cnn_lstm(K, dtype):
    def td(layer):
        return K.layers.TimeDistributed(layer, dtype=dtype)

    x = K.Input((4, 10, 10, 2), dtype=dtype)
    y = td(K.layers.Conv2D(3, 3, activation="relu", dtype=dtype))(x)
    y = td(K.layers.MaxPooling2D(2, dtype=dtype))(y)
    y = td(K.layers.Flatten(dtype=dtype))(y)
    y = K.layers.LSTM(5, dtype=dtype)(y)
    return K.Model(x, K.layers.Dense(2, activation="softmax", dtype=dtype)(y))


def _conv_lstm(K, dtype):
    x = K.Input((3, 8, 8, 2), dtype=dtype)
    y = K.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True, dtype=dtype)(x)
    y = K.layers.MaxPooling3D((1, 2, 2), dtype=dtype)(y)
    y = K.layers.BatchNormalization(dtype=dtype)(y)
    y = K.layers.ConvLSTM2D(2, 3, dtype=dtype)(y)
    y = K.layers.GlobalAveragePooling2D(dtype=dtype)(y)
    return K.Model(x, K.layers.Dense(1, dtype=dtype)(y))


def _attention(K, dtype):
    ids = K.Input((6,), dtype="int32")
    e = K.layers.Embedding(12, 4, mask_zero=True, dtype=dtype)(ids)
    h = K.layers.LSTM(5, return_sequences=True, dtype=dtype)(e)
    last = K.layers.LSTM(5, dtype=dtype)(e)
    q = K.layers.Reshape((1, 5), dtype=dtype)(K.layers.Dense(5, dtype=dtype)(last))
    score = K.layers.Dot(axes=(2, 2), dtype=dtype)([q, h])
    weights = K.layers.Activation("softmax", dtype=dtype)(score)
    context = K.layers.Flatten(dtype=dtype)(K.layers.Dot(axes=(2, 1), dtype=dtype)([weights, h]))
    att = K.layers.GlobalAveragePooling1D(dtype=dtype)(K.layers.Attention(dtype=dtype)([h, h]))
    y = K.layers.Concatenate(dtype=dtype)([context, att, last])
    return K.Model(ids, K.layers.Dense(3, dtype=dtype)(y))


def _inputs(name, rng, dtype):
    if name == "attention":
        ids = rng.integers(1, 12, (3, 6))
        ids[0, :2] = 0  # pre-padded
        ids[1, 4:] = 0  # post-padded
        return ids.astype("int32")
    shape = (3, 4, 10, 10, 2) if name == "cnn_lstm" else (3, 3, 8, 8, 2)
    return rng.standard_normal(shape).astype(dtype)


BUILDERS = {"cnn_lstm": _cnn_lstm, "conv_lstm": _conv_lstm, "attention": _attention}


# TensorFlow's CPU has no float64 MaxPool3D, so Keras cannot run the ConvLSTM model in float64
# (tests/test_spatial_layers.py checks that Keras refuses it).
CASES = [(gen, name, dtype) for gen in (3, 2) for name in BUILDERS for dtype in ("float32", "float64")
         if not (name == "conv_lstm" and dtype == "float64")]


@pytest.mark.parametrize("gen, name, dtype", CASES)
def test_real_file_patterns(gen, name, dtype, keras3, tfk, tmp_path):
    K = keras3 if gen == 3 else tfk
    K.backend.set_floatx(dtype)
    try:
        model = BUILDERS[name](K, dtype)
        rng = np.random.default_rng(0)
        model.set_weights([(rng.standard_normal(w.shape) * 0.4).astype(w.dtype) for w in model.get_weights()])
        path = tmp_path / ("m.keras" if gen == 3 else "m.h5")
        model.save(path)
        x = _inputs(name, np.random.default_rng(1), dtype)
        want = model.predict(x, verbose=0)
    finally:
        K.backend.set_floatx("float32")
    module = kt.load_model(path)
    with torch.no_grad():
        got = module(torch.as_tensor(x))
    assert got.dtype == torch_dtype(dtype)
    report = kt.testing.compare_outputs(want, got)
    assert report.ok, str(report)
