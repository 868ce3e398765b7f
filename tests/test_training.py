"""Training dynamics: SGD steps on our layers change the weights exactly as Keras training does
(Keras's single bias: torch's two-bias LSTM would move the bias twice as fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn, generation

import keraslike_torch as kt


@pytest.fixture
def float64_keras(K):
    """Keras computes compiled losses in floatx (float32 by default) even for float64 layers;
    float64 throughout makes the comparison exact to rounding."""
    old = K.backend.floatx()
    K.backend.set_floatx("float64")
    yield
    K.backend.set_floatx(old)


CASES = [
    ("LSTM", dict()),
    ("LSTM", dict(recurrent_activation="hard_sigmoid")),
    ("GRU", dict()),
    ("GRU", dict(reset_after=False)),
    ("SimpleRNN", dict(activation="relu")),
]


@pytest.mark.parametrize("kind,kw", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_sgd_steps_match_keras(K, kind, kw, return_sequences, rng, float64_keras):
    steps, lr = 5, 0.25  # exactly representable: Keras keeps the learning rate in float32
    layer = build_keras_rnn(K, kind, 3, 2, "float64", rng, return_sequences=return_sequences, **kw)
    inp = K.Input((6, 2), dtype="float64")
    model = K.Model(inp, layer(inp))
    model.compile(optimizer=K.optimizers.SGD(learning_rate=lr), loss="mse")

    ours = getattr(kt, kind)(3, return_sequences=return_sequences, keras_version=generation(K),
                             dtype=torch.float64, **kw)
    ours.set_keras_weights(layer.get_weights())
    opt = torch.optim.SGD(ours.parameters(), lr=lr)
    assert sum(p.numel() for p in ours.parameters()) == model.count_params()

    x = rng.standard_normal((4, 6, 2))
    target = rng.standard_normal((4, 6, 3) if return_sequences else (4, 3))
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    for step in range(steps):
        keras_loss = model.train_on_batch(x, target)
        opt.zero_grad()
        loss = ((ours(xt) - tt) ** 2).mean()
        loss.backward()
        opt.step()
        # Keras reports the loss through a float32 metric; the weights below are compared exactly
        assert abs(float(np.asarray(keras_loss).ravel()[0]) - loss.item()) <= 1e-6 * abs(loss.item())
        rep = kt.testing.compare_outputs(layer.get_weights(), ours.get_keras_weights(), 1e-10, 1e-12,
                                         what="weights")
        assert rep.ok, f"after step {step + 1}:\n{rep}"
    # the weights moved: the comparison above is not of untouched initial values
    assert not np.allclose(layer.get_weights()[0], build_keras_rnn(K, kind, 3, 2, "float64",
                                                                   np.random.default_rng(1234), **kw).get_weights()[0])


def test_single_bias_differs_from_torch_two_bias_lstm():
    """torch.nn.LSTM's two biases double the bias step; ours follows Keras's single bias."""
    torch.manual_seed(0)
    ours = kt.LSTM(4, input_size=3, dtype=torch.float64)
    ref = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(ours.cell.weight_ih)
        ref.weight_hh_l0.copy_(ours.cell.weight_hh)
        ref.bias_ih_l0.copy_(ours.cell.bias)
        ref.bias_hh_l0.zero_()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x)[0][:, -1])
    ours(x).sum().backward()
    ref(x)[0][:, -1].sum().backward()
    torch.testing.assert_close(ours.cell.bias.grad, ref.bias_ih_l0.grad)
    # one SGD step: torch's effective bias moves by 2 * lr * grad, Keras's (ours) by lr * grad
    effective_ref_step = ref.bias_ih_l0.grad + ref.bias_hh_l0.grad
    torch.testing.assert_close(effective_ref_step, 2 * ours.cell.bias.grad)
