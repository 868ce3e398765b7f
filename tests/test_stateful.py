"""Stateful layers against stateful Keras layers: a sequence of calls, resets, explicit states."""

from __future__ import annotations

import pytest
import torch
from kutil import build_keras_rnn, generation

import keraslike_torch as kt


@pytest.mark.parametrize("kind,kw", [("LSTM", {}), ("GRU", {"reset_after": False}),
                                     ("SimpleRNN", {}), ("LSTM", {"recurrent_activation": "hard_sigmoid"})])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_stateful_calls_and_reset(K, kind, kw, return_sequences, rng):
    layer = build_keras_rnn(K, kind, 4, 3, "float64", rng, batch=2, stateful=True, return_state=True,
                            return_sequences=return_sequences, **kw)
    ours = getattr(kt, kind)(4, stateful=True, return_state=True, return_sequences=return_sequences,
                             keras_version=generation(K), dtype=torch.float64, **kw)
    ours.set_keras_weights(layer.get_weights())
    xs = [rng.standard_normal((2, 5, 3)) for _ in range(5)]
    plan = ["call", "call", "reset", "call", "call"]
    for action, x in zip(plan, xs):
        if action == "reset":
            layer.reset_states()
            ours.reset_states()
            assert all(float(s.abs().sum()) == 0 for s in ours.states)
        kt.testing.assert_keras_parity(layer, ours, x)
        # the stored states are the last call's final states, detached
        assert all(not s.requires_grad for s in ours.states)


def test_stateful_explicit_initial_state_is_used_for_that_call(keras3, rng):
    """Keras 3: an explicit initial_state on a stateful layer is used for that call, and the
    resulting final states are stored."""
    layer = build_keras_rnn(keras3, "GRU", 3, 2, "float64", rng, batch=2, stateful=True, return_state=True)
    ours = kt.GRU(3, stateful=True, return_state=True, dtype=torch.float64)
    ours.set_keras_weights(layer.get_weights())
    x1, x2, x3 = (rng.standard_normal((2, 4, 2)) for _ in range(3))
    h0 = rng.standard_normal((2, 3))
    kt.testing.assert_keras_parity(layer, ours, x1)
    kt.testing.assert_keras_parity(layer, ours, x2, initial_state=[h0])
    kt.testing.assert_keras_parity(layer, ours, x3)


def test_stateful_states_equal_one_long_call(rng):
    """Splitting a sequence over stateful calls equals one call over the whole sequence."""
    x = torch.from_numpy(rng.standard_normal((3, 12, 2)))
    whole = kt.LSTM(5, return_sequences=True, dtype=torch.float64, input_size=2)
    parts = kt.LSTM(5, return_sequences=True, stateful=True, dtype=torch.float64, input_size=2)
    parts.load_state_dict(whole.state_dict())
    y = torch.cat([parts(x[:, :4]), parts(x[:, 4:9]), parts(x[:, 9:])], 1)
    torch.testing.assert_close(y, whole(x), rtol=1e-12, atol=1e-13)


def test_reset_states_with_values():
    layer = kt.LSTM(2, input_size=1, stateful=True, return_state=True)
    h = torch.ones(3, 2)
    layer.reset_states([h, 2 * h])
    _, h1, c1 = layer(torch.zeros(3, 1, 1))
    ref = kt.LSTM(2, input_size=1, return_state=True)
    ref.load_state_dict(layer.state_dict())
    _, h2, c2 = ref(torch.zeros(3, 1, 1), initial_state=[h, 2 * h])
    torch.testing.assert_close(h1, h2)
    torch.testing.assert_close(c1, c2)
