"""Dropout with Keras's structure: one mask per sequence reused at every step, per-gate masks with
recurrent dropout; inference deterministic. Exact parity with Keras 3 given the same masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn

import keraslike_torch as kt


def _mask(rng, shape, rate, dtype="float64"):
    keep = rng.random(shape) >= rate
    return (keep / (1 - rate)).astype(dtype)


@pytest.mark.parametrize("kind,kw", [
    ("LSTM", dict(dropout=0.3)),
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.4)),
    ("LSTM", dict(recurrent_dropout=0.4, recurrent_activation="hard_sigmoid")),
    ("GRU", dict(dropout=0.3)),
    ("GRU", dict(dropout=0.2, recurrent_dropout=0.5)),
    ("GRU", dict(dropout=0.2, recurrent_dropout=0.5, reset_after=False)),
    ("SimpleRNN", dict(dropout=0.3, recurrent_dropout=0.3)),
])
def test_training_parity_with_injected_keras_masks(keras3, kind, kw, rng):
    """Keras 3 cells cache their masks in _dropout_mask/_recurrent_dropout_mask; setting them
    (and ours through kt.testing.dropout_masks) makes the training computation comparable."""
    b, t, d, u = 3, 6, 4, 5
    layer = build_keras_rnn(keras3, kind, u, d, "float64", rng, return_sequences=True, **kw)
    ours = getattr(kt, kind)(u, return_sequences=True, dtype=torch.float64, **kw)
    ours.set_keras_weights(layer.get_weights())
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    per_gate = gates > 1 and kw.get("recurrent_dropout", 0) > 0
    inp = rec = None
    if kw.get("dropout"):
        inp = ([_mask(rng, (b, d), kw["dropout"]) for _ in range(gates)] if per_gate
               else _mask(rng, (b, d), kw["dropout"]))
    if kw.get("recurrent_dropout"):
        rec = [_mask(rng, (b, u), kw["recurrent_dropout"]) for _ in range(gates)]
        if gates == 1:
            rec = rec[0]
    layer.cell._dropout_mask = inp
    layer.cell._recurrent_dropout_mask = rec
    x = rng.standard_normal((b, t, d))
    keras_out = np.asarray(layer(x, training=True))
    with kt.testing.dropout_masks(ours, inp, rec if isinstance(rec, list) else ([rec] if rec is not None else None)):
        ours_out = ours(torch.from_numpy(x), training=True)
    rep = kt.testing.compare_outputs([keras_out], [ours_out])
    assert rep.ok, str(rep)
    # and the masks mattered: inference differs
    assert not np.allclose(keras_out, ours(torch.from_numpy(x), training=False).detach().numpy())


def test_inference_is_deterministic_and_ignores_dropout():
    a = kt.LSTM(4, input_size=3, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    b = kt.LSTM(4, input_size=3, return_sequences=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 3)
    a.eval()
    torch.testing.assert_close(a(x), a(x))
    torch.testing.assert_close(a(x), b(x))
    a.train()
    torch.testing.assert_close(a(x, training=False), b(x))
    assert not torch.allclose(a(x), b(x))  # module in training mode: dropout applies


def test_input_mask_constant_over_time_and_rate_honoured():
    """SimpleRNN with identity kernel, zero recurrence, linear activation: each output step is the
    input dropout mask itself; it must be the same at every step, with the right rate/scale."""
    rate, b, d = 0.3, 4000, 8
    layer = kt.SimpleRNN(d, input_size=d, activation="linear", dropout=rate, use_bias=False,
                         return_sequences=True)
    layer.set_keras_weights([np.eye(d, dtype=np.float32), np.zeros((d, d), np.float32)])
    y = layer(torch.ones(b, 5, d), training=True)
    for t in range(1, 5):
        torch.testing.assert_close(y[:, t], y[:, 0])
    values = np.unique(y.detach().numpy())
    np.testing.assert_allclose(values, [0.0, 1 / (1 - rate)], rtol=1e-6)
    assert abs(float((y[:, 0] == 0).float().mean()) - rate) < 0.02


def test_recurrent_mask_reused_at_every_step():
    rate, b, u = 0.4, 3000, 6
    layer = kt.SimpleRNN(u, input_size=1, activation="linear", recurrent_dropout=rate, use_bias=False,
                         return_sequences=True)
    layer.set_keras_weights([np.zeros((1, u), np.float32), np.eye(u, dtype=np.float32)])
    y = layer(torch.zeros(b, 3, 1), initial_state=[torch.ones(b, u)], training=True)
    m = y[:, 0]  # h1 = h0 * mask = mask
    torch.testing.assert_close(y[:, 1], m * m)
    torch.testing.assert_close(y[:, 2], m * m * m)
    assert abs(float((m == 0).float().mean()) - rate) < 0.02


def test_per_gate_masks_differ_between_gates():
    """With recurrent dropout each LSTM gate draws its own input mask (Keras implementation 1)."""
    layer = kt.LSTM(3, input_size=50, dropout=0.5, recurrent_dropout=0.1)
    dmask, rmask = layer._dropout_masks(torch.zeros(7, 2, 50), training=True)
    assert dmask.shape == (4, 7, 50) and rmask.shape == (4, 7, 3)
    assert not torch.equal(dmask[0], dmask[1])
    single = kt.LSTM(3, input_size=50, dropout=0.5)
    dmask, rmask = single._dropout_masks(torch.zeros(7, 2, 50), training=True)
    assert dmask.shape == (7, 50) and rmask is None
