"""Bad input gets a clear error naming the problem, and loses nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import keraslike_torch as kt


def built_lstm(**kw):
    return kt.LSTM(4, input_size=3, **kw)


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"3-D input \(batch, time, features\); got shape \(2, 3\)"):
        built_lstm()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="3-D input"):
        built_lstm()(torch.zeros(2, 3, 3, 1))


def test_wrong_feature_count():
    with pytest.raises(ValueError, match="expects 3 input features .* got 5"):
        built_lstm()(torch.zeros(2, 4, 5))
    lazy = kt.GRU(2)
    lazy(torch.zeros(1, 2, 6))
    with pytest.raises(ValueError, match="expects 6 input features"):
        lazy(torch.zeros(1, 2, 7))


def test_integer_and_non_tensor_input():
    with pytest.raises(TypeError, match="floating-point input, got torch.int64"):
        built_lstm()(torch.zeros(2, 4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        built_lstm()(np.zeros((2, 4, 3)))


def test_dtype_mismatch():
    with pytest.raises(TypeError, match="input dtype torch.float64 does not match .*torch.float32"):
        built_lstm()(torch.zeros(2, 4, 3, dtype=torch.float64))


def test_empty_time_axis():
    with pytest.raises(ValueError, match="0 time steps"):
        built_lstm()(torch.zeros(2, 0, 3))


def test_bad_initial_state():
    layer = built_lstm()
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match=r"takes 2 initial state tensor\(s\) \(\[h, c\]\), each \(2, 4\); got 1"):
        layer(x, initial_state=[torch.zeros(2, 4)])
    msg = r"initial_state\[1\] must have shape \(batch, units\) = \(2, 4\), got \(2, 5\)"
    with pytest.raises(ValueError, match=msg):
        layer(x, initial_state=[torch.zeros(2, 4), torch.zeros(2, 5)])
    with pytest.raises(ValueError, match=r"takes 1 initial state"):
        kt.GRU(4, input_size=3)(x, initial_state=[torch.zeros(2, 4)] * 2)


def test_bad_masks():
    layer = built_lstm()
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match=r"mask shape \(2, 4\) does not match .* \(2, 5\)"):
        layer(x, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask shape \(3, 5\) does not match"):
        layer(x, mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="got a 3-D mask"):
        layer(x, mask=torch.ones(2, 5, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="only 0 and 1"):
        layer(x, mask=torch.full((2, 5), 0.5))
    # 0/1 floats and ints are accepted like booleans
    a = layer(x, mask=torch.tensor([[1.0, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))
    b = layer(x, mask=torch.tensor([[True, True, True, False, False], [True] * 5]))
    torch.testing.assert_close(a, b)


def test_bad_options():
    with pytest.raises(ValueError, match="units must be a positive integer, got -3"):
        kt.LSTM(-3)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        kt.GRU(0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        kt.LSTM(3, dropout=1.0)
    with pytest.raises(ValueError, match=r"recurrent_dropout must be in \[0, 1\), got -0.1"):
        kt.SimpleRNN(3, recurrent_dropout=-0.1)
    with pytest.raises(ValueError, match="Unknown activation 'tanhh'"):
        kt.GRU(3, activation="tanhh")
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        kt.LSTM(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="use_fused=True but no torch kernel computes GRU .*reset_after=False"):
        kt.GRU(3, reset_after=False, use_fused=True)
    with pytest.raises(ValueError, match="implementation must be"):
        kt.LSTM(3, implementation=5)


def test_set_keras_weights_is_atomic():
    layer = built_lstm()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    good = layer.get_keras_weights()
    cases = [
        (good[:2], r"expects 3 weights with shapes \[\(3, 16\), \(4, 16\), \(16,\)\].*got 2"),
        ([good[0], good[1], np.zeros(15, np.float32)], r"got 3 with shapes \[\(3, 16\), \(4, 16\), \(15,\)\]"),
        ([good[0].T, good[1], good[2]], r"shapes \[\(16, 3\)"),
        ([good[0], good[1], good[2].astype(np.int64)], "weight 2 has dtype int64"),
        ([good[0], good[1], np.array(["a"] * 16)], "weight 2 has dtype <U1"),
        (good[0], "must be a list of arrays"),
    ]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg):
            layer.set_keras_weights(bad)
        for k, v in layer.state_dict().items():
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_stateful_batch_mismatch():
    layer = kt.LSTM(2, input_size=1, stateful=True)
    layer(torch.zeros(3, 4, 1))
    with pytest.raises(ValueError, match="holds states for batch size 3 but got batch size 5"):
        layer(torch.zeros(5, 4, 1))
    with pytest.raises(AttributeError, match="only for stateful layers"):
        kt.LSTM(2).reset_states()
