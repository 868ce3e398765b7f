"""Weights: Keras layout round trips, parameter counts, from_keras, initializers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import generation

import keraslike_torch as kt

LAYERS = [
    ("LSTM", dict()), ("LSTM", dict(use_bias=False)), ("GRU", dict()), ("GRU", dict(reset_after=False)),
    ("GRU", dict(use_bias=False)), ("SimpleRNN", dict()), ("SimpleRNN", dict(use_bias=False)),
]


@pytest.mark.parametrize("kind,kw", LAYERS, ids=[f"{k}{i}" for i, (k, _) in enumerate(LAYERS)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_keras_counts_and_round_trip(K, kind, kw, dtype, rng):
    layer = getattr(K.layers, kind)(5, dtype=dtype, **kw)
    x = rng.standard_normal((2, 3, 7)).astype(dtype)
    layer(x)
    ours = kt.from_keras(layer)
    assert ours.count_params() == layer.count_params() == sum(p.numel() for p in ours.parameters())
    assert ours.cell.weight_hh.dtype == getattr(torch, dtype)
    got, want = ours.get_keras_weights(), layer.get_weights()
    assert [w.shape for w in got] == [w.shape for w in want]
    assert all(g.dtype == np.dtype(dtype) for g in got)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    kt.testing.assert_keras_parity(layer, ours, x)
    # setting our own weights back is the identity
    ours.set_keras_weights(got)
    for g, w in zip(ours.get_keras_weights(), want):
        np.testing.assert_array_equal(g, w)


def test_gru_gate_reorder_matches_torch_gru():
    """Keras [z, r, h] -> torch [r, z, n]: our reset_after GRU equals torch.nn.GRU."""
    torch.manual_seed(1)
    ours = kt.GRU(4, input_size=3, dtype=torch.float64, bias_initializer="random_normal")
    ref = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name + "_l0").copy_(getattr(ours.cell, name))
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x)[0][:, -1])
    k = ours.get_keras_weights()
    u = 4
    # Keras's update-gate block z is torch's second block
    np.testing.assert_array_equal(k[0][:, :u], ref.weight_ih_l0.detach().numpy()[u:2 * u].T)
    np.testing.assert_array_equal(k[2][1, 2 * u:], ref.bias_hh_l0.detach().numpy()[2 * u:])


def test_unbuilt_layer_builds_from_weights():
    layer = kt.LSTM(3)
    assert not layer.cell.built
    with pytest.raises(RuntimeError, match="no input size yet"):
        layer.get_keras_weights()
    w = [np.ones((6, 12), np.float32), np.ones((3, 12), np.float32), np.zeros(12, np.float32)]
    layer.set_keras_weights(w)
    assert layer.input_size == 6
    np.testing.assert_array_equal(layer.get_keras_weights()[0], w[0])


def test_state_dict_round_trip_into_lazy_layer():
    a = kt.GRU(3, input_size=4)
    b = kt.GRU(3)
    b.load_state_dict(a.state_dict())
    assert b.input_size == 4
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(a(x), b(x))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_default_initializers_follow_keras(kind):
    torch.manual_seed(0)
    layer = getattr(kt, kind)(64, input_size=32, dtype=torch.float64)
    kernel, recurrent, bias = layer.get_keras_weights()
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    limit = np.sqrt(6 / (32 + 64 * gates))  # glorot_uniform on Keras's (in, out) kernel
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.05 * limit
    # orthogonal recurrent kernel (u, G*u): orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(64), atol=1e-12)
    if kind == "LSTM":  # unit_forget_bias: forget block exactly 1.0, others 0
        np.testing.assert_array_equal(bias[64:128], 1.0)
        np.testing.assert_array_equal(np.delete(bias, np.s_[64:128]), 0.0)
    else:
        np.testing.assert_array_equal(bias, 0.0)


def test_initializer_options():
    torch.manual_seed(0)
    layer = kt.LSTM(8, input_size=4, unit_forget_bias=False, bias_initializer="ones",
                    kernel_initializer={"class_name": "RandomUniform", "config": {"minval": 0.5, "maxval": 0.6}},
                    recurrent_initializer="he_normal")
    k, r, b = layer.get_keras_weights()
    np.testing.assert_array_equal(b, 1.0)
    assert k.min() >= 0.5 and k.max() <= 0.6
    std = np.sqrt(2 / 8) / 0.87962566103423978
    assert np.abs(r).max() <= 2 * std + 1e-6  # truncated at two standard deviations
    custom = kt.SimpleRNN(3, input_size=2, kernel_initializer=torch.nn.init.ones_)
    np.testing.assert_array_equal(custom.get_keras_weights()[0], 1.0)


def test_keras_and_our_initializer_statistics_agree(K):
    """Same distributions as Keras: compare moments of large draws."""
    gen = generation(K)
    layer = K.layers.LSTM(96)
    layer.build((None, None, 80))
    ours = kt.LSTM(96, input_size=80, keras_version=gen)
    (ka, ra, ba), (kb, rb, bb) = layer.get_weights(), ours.get_keras_weights()
    assert abs(ka.std() - kb.std()) < 0.03 * ka.std()
    assert abs(np.abs(ka).max() - np.abs(kb).max()) < 0.01 * np.abs(ka).max()  # uniform bound
    assert abs(ra.std() - rb.std()) < 0.03 * ra.std()
    np.testing.assert_allclose(ra @ ra.T, np.eye(96), atol=1e-5)
    np.testing.assert_allclose(rb @ rb.T, np.eye(96), atol=1e-5)
    np.testing.assert_array_equal(ba, bb)
