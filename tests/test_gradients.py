"""Gradient parity: TensorFlow GradientTape on the Keras layer vs torch autograd on ours (float64),
per cell type and path (fused kernel / sequence runner), with initial states and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn, generation

import keraslike_torch as kt

CONFIGS = [
    ("LSTM", dict()),
    ("LSTM", dict(recurrent_activation="hard_sigmoid")),
    ("LSTM", dict(activation="relu", recurrent_activation="hard_sigmoid", use_bias=False)),
    ("GRU", dict()),
    ("GRU", dict(reset_after=False, recurrent_activation="hard_sigmoid")),
    ("GRU", dict(reset_after=False, use_bias=False)),
    ("GRU", dict(activation="softsign")),
    ("SimpleRNN", dict()),
    ("SimpleRNN", dict(activation="relu")),
    ("SimpleRNN", dict(activation="elu")),
    ("SimpleRNN", dict(activation="softmax")),  # not elementwise: autograd through the runner
]
MASKS = {
    "none": None,
    "post": np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]], bool),
    "holes": np.array([[1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 0]], bool),
}


@pytest.mark.parametrize("kind,kw", CONFIGS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS)])
@pytest.mark.parametrize("path", ["auto", "runner"])
@pytest.mark.parametrize("mask", list(MASKS))
def test_gradient_parity(K, kind, kw, path, mask, rng):
    gen = generation(K)
    layer = build_keras_rnn(K, kind, 4, 3, "float64", rng, return_sequences=True, return_state=True,
                            go_backwards=mask == "holes", **kw)
    ours = getattr(kt, kind)(4, return_sequences=True, return_state=True, go_backwards=mask == "holes",
                             keras_version=gen, dtype=torch.float64,
                             use_fused=False if path == "runner" else "auto", **kw)
    ours.set_keras_weights(layer.get_weights())
    x = rng.standard_normal((3, 6, 3))
    n = 2 if kind == "LSTM" else 1
    states = [rng.standard_normal((3, 4)) for _ in range(n)]
    report = kt.testing.assert_keras_gradient_parity(layer, ours, x, initial_state=states, mask=MASKS[mask])
    # inputs, initial states and every trainable weight were compared
    assert len(report.diffs) == 1 + n + len(layer.trainable_weights)


@pytest.mark.parametrize("kind,kw", CONFIGS[:-1], ids=[f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS[:-1])])
def test_runner_backward_matches_autograd(kind, kw):
    """The runner's hand-written batched backward equals autograd through its own loop."""
    torch.manual_seed(3)
    mk = lambda: getattr(kt, kind)(5, input_size=3, return_sequences=True, return_state=True,  # noqa: E731
                                   dtype=torch.float64, use_fused=False, **kw)
    a = mk()
    x = torch.randn(4, 7, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(4, 7) > 0.3
    out = a(x, mask=mask, training=True)
    loss = sum((o * torch.cos(torch.arange(o.numel(), dtype=o.dtype)).view_as(o)).sum() for o in out)
    grads = torch.autograd.grad(loss, [x, *a.parameters()])
    # force autograd mode: activations wrapped as non-elementwise callables
    b = mk()
    b.load_state_dict(a.state_dict())
    b.cell.activation = kt.activations.Activation("wrapped", b.cell.activation.fn)
    b.cell.recurrent_activation = kt.activations.Activation("wrapped_r", b.cell.recurrent_activation.fn)
    assert b.cell.uses_autograd_backward() and not a.cell.uses_autograd_backward()
    xb = x.detach().clone().requires_grad_(True)
    out_b = b(xb, mask=mask, training=True)
    loss_b = sum((o * torch.cos(torch.arange(o.numel(), dtype=o.dtype)).view_as(o)).sum() for o in out_b)
    grads_b = torch.autograd.grad(loss_b, [xb, *b.parameters()])
    for ga, gb in zip(grads, grads_b):
        torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-13)


def test_gradcheck_runner_with_dropout():
    """Finite differences through the runner with per-gate recurrent dropout masks."""
    from torch.autograd import gradcheck

    layer = kt.LSTM(3, input_size=2, return_sequences=True, dropout=0.3, recurrent_dropout=0.3,
                    recurrent_activation="hard_sigmoid", dtype=torch.float64)
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)

    def f(inp):
        torch.manual_seed(11)  # the same dropout masks for every evaluation
        return layer(inp, training=True)

    assert gradcheck(f, (x,), eps=1e-6, atol=1e-7)
