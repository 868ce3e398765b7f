"""Every activation against Keras 3 and tf-keras at test time: values and derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import generation

import keraslike_torch as kt

# Keras name -> our name (for tf-keras, "hard_sigmoid" is the Keras 2 function)
KERAS3_NAMES = [
    "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "celu",
    "softplus", "softsign", "exponential", "silu", "swish", "gelu", "hard_silu", "hard_swish",
    "mish", "log_sigmoid", "hard_tanh", "tanh_shrink", "soft_shrink", "hard_shrink",
    "sparse_plus", "sparse_sigmoid", "squareplus", "linear", "softmax", "log_softmax",
]
TF_KERAS_NAMES = [
    "tanh", "sigmoid", "hard_sigmoid", "relu", "elu", "selu", "softplus", "softsign",
    "exponential", "swish", "gelu", "mish", "linear", "softmax",
]


def names_for(K):
    return KERAS3_NAMES if generation(K) == 3 else TF_KERAS_NAMES


def sample(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    # wide range, avoiding exact kinks (measure-zero points where derivative conventions differ)
    x = np.concatenate([rng.uniform(-7, 7, 300), rng.normal(0, 1, 200)]).astype(dtype)
    return x.reshape(20, 25)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_values_and_gradients(K, tf, dtype):
    x = sample(dtype)
    gen = generation(K)
    rtol, atol = kt.testing.default_tolerances(dtype)
    for name in names_for(K):
        fn = K.activations.get(name)
        xv = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = fn(xv)
            w = tf.constant(np.cos(np.arange(x.size)).reshape(x.shape).astype(dtype))
            loss = tf.reduce_sum(y * w)
        g = tape.gradient(loss, xv)

        act = kt.activations.get(name, keras_version=gen)
        xt = torch.tensor(x, requires_grad=True)
        yt = act(xt)
        (yt * torch.tensor(np.asarray(w))).sum().backward()
        rep = kt.testing.compare_outputs([y, g], [yt, xt.grad], rtol, atol, names=[f"{name}", f"d {name}"])
        assert rep.ok, str(rep)
        if act.derivative is not None:
            # the runner's hand-written derivative equals Keras's gradient too
            d = act.derivative(xt.detach(), act(xt.detach())) * torch.tensor(np.asarray(w))
            rep = kt.testing.compare_outputs([g], [d], rtol, atol, names=[f"derivative {name}"])
            assert rep.ok, str(rep)


def test_hard_sigmoid_definitions():
    x = torch.tensor([-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0])
    k3 = kt.activations.get("hard_sigmoid")(x)
    k2 = kt.activations.get("hard_sigmoid", keras_version=2)(x)
    torch.testing.assert_close(k3, torch.clamp(x / 6 + 0.5, 0, 1))
    torch.testing.assert_close(k2, torch.clamp(0.2 * x + 0.5, 0, 1))
    assert kt.activations.get("hard_sigmoid_keras2") is kt.activations.get("hard_sigmoid", keras_version=2)
    assert kt.activations.get("legacy_hard_sigmoid").name == "hard_sigmoid_keras2"


def test_activation_identifiers():
    assert kt.activations.get(None).name == "linear"
    assert kt.activations.get(torch.tanh).name == "tanh"
    assert kt.activations.get({"class_name": "function", "config": "relu"}).name == "relu"
    custom = kt.activations.get(lambda t: t * 2)
    assert custom.name.startswith("custom:") and not custom.elementwise
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        kt.activations.get("nope")
    with pytest.raises(ValueError, match="Unknown activation"):
        kt.LSTM(3, activation="tanhh")
