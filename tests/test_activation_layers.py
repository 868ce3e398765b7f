"""Activation layers (Softmax, ReLU, LeakyReLU, PReLU, ELU) and Dot against Keras 3 and tf-keras:
outputs (float32 and float64), Softmax masks, weights, configs, errors, TimeDistributed."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch.converters import UnsupportedLayerError, convert_layer
from keraslike_torch.layers import Dot, PReLU, ReLU, Softmax

DTYPES = ["float32", "float64"]


def kout(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def assert_close(keras_out, torch_out) -> None:
    report = kt.testing.compare_outputs(kout(keras_out), torch_out)
    assert report.ok, str(report)


def inputs(rng, shape, dtype):
    # values near the thresholds and caps used below, and exact zeros
    x = rng.standard_normal(shape) * 3
    x.flat[:4] = [0.0, 0.5, 6.0, -0.5]
    return x.astype(dtype)


def _kw(K, kind, kw):
    if kind == "LeakyReLU" and generation(K) == 2 and "negative_slope" in kw:
        return {"alpha": kw["negative_slope"]}
    return kw


ACTIVATIONS = [
    ("Softmax", {}),
    ("Softmax", {"axis": 1}),
    ("Softmax", {"axis": [1, 2]}),
    ("ReLU", {}),
    ("ReLU", {"max_value": 6.0}),
    ("ReLU", {"max_value": 2.5, "negative_slope": 0.1, "threshold": 0.5}),
    ("ReLU", {"negative_slope": 0.1}),
    ("ReLU", {"threshold": 0.5}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.1}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.7}),
    ("PReLU", {}),
    ("PReLU", {"shared_axes": [1]}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,kw", ACTIVATIONS, ids=[f"{k}-{v}" for k, v in ACTIVATIONS])
def test_activation_layer_parity(K, dtype, kind, kw, rng):
    layer = getattr(K.layers, kind)(dtype=dtype, **_kw(K, kind, kw))
    x = inputs(rng, (3, 4, 5), dtype)
    layer.build(x.shape)
    if kind == "PReLU":  # random alpha, not the initializer's zeros
        layer.set_weights([rng.standard_normal(w.shape).astype(dtype) for w in layer.get_weights()])
    ours = kt.from_keras(layer)
    assert type(ours).__name__ == kind and ours.keras_version == generation(K)
    assert ours.count_params() == layer.count_params()
    for a, b in zip(ours.get_keras_weights(), layer.get_weights(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    y = ours(torch.as_tensor(x))
    assert y.dtype == torch_dtype(dtype)
    assert_close(layer(x), y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_mask_parity(K, dtype, rng):
    """Keras 3 puts -1e9 with ``where`` and zeroes masked outputs; tf-keras adds -1e9: a fully
    masked row is zeros in one, uniform in the other."""
    x = inputs(rng, (3, 4, 5), dtype)
    mask = rng.random((3, 4, 5)) > 0.4
    mask[0, 0] = False  # a fully masked row
    mask[1, 1] = True
    layer = K.layers.Softmax(dtype=dtype)
    ours = kt.from_keras(layer)
    expected = kout(layer(x, mask=mask))
    assert_close(expected, ours(torch.as_tensor(x), mask=torch.as_tensor(mask)))
    row, logits = expected[0, 0], x[0, 0].astype("float64")
    if generation(K) == 3:
        assert np.all(row == 0.0)
    elif dtype == "float32":  # x - 1e9 rounds every logit to -1e9: uniform
        assert np.allclose(row, 0.2)
    else:  # float64 keeps the logits: softmax of the row as if unmasked
        assert np.allclose(row, np.exp(logits) / np.exp(logits).sum())
    # a broadcast mask (batch, 1, features) of 0/1 numbers
    small = (rng.random((3, 1, 5)) > 0.3).astype(dtype)
    assert_close(layer(x, mask=small), ours(torch.as_tensor(x), mask=torch.as_tensor(small)))


def test_softmax_mask_float16(K, rng):
    """The masking constant in float16: Keras 3 -3e4, tf-keras float16.min / 2."""
    x = inputs(rng, (2, 3, 4), "float16")
    mask = rng.random((2, 3, 4)) > 0.4
    layer = K.layers.Softmax(dtype="float16")
    assert_close(layer(x, mask=mask), kt.from_keras(layer)(torch.as_tensor(x), mask=torch.as_tensor(mask)))


def test_softmax_mask_must_broadcast():
    with pytest.raises(ValueError, match="Softmax: the mask must broadcast"):
        Softmax()(torch.zeros(2, 3, 4), mask=torch.ones(2, 3, dtype=torch.bool))


def test_prelu_is_a_torch_citizen(rng):
    p = PReLU(shared_axes=1)
    assert not p.built
    y = p(torch.randn(2, 4, 3))
    assert y.shape == (2, 4, 3) and p.keras_weight_shapes() == [(1, 3)]
    alpha = rng.standard_normal((1, 3)).astype("float32")
    p.set_keras_weights([alpha])
    for clone in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert np.array_equal(clone.get_keras_weights()[0], alpha)
    fresh = PReLU(shared_axes=[1])
    fresh.load_state_dict(p.state_dict())
    assert np.array_equal(fresh.get_keras_weights()[0], alpha)
    lazy = PReLU()
    lazy.set_keras_weights([np.ones((4, 3), "float32")])
    assert lazy.input_shape == (4, 3) and lazy.count_params() == 12
    with pytest.raises(ValueError, match=r"PReLU 'p' expects 1 weights with shapes \[\(4, 3\)\]"):
        PReLU(name="p", input_shape=(4, 3)).set_keras_weights([np.ones((3, 4), "float32")])
    with pytest.raises(ValueError, match="PReLU was built for inputs"):
        lazy(torch.zeros(2, 5, 3))
    assert lazy.double()(torch.zeros(2, 4, 3)).dtype == torch.float64


def test_activation_layers_in_time_distributed(K, rng):
    L = K.layers
    inp = K.Input((4, 3, 5))
    h = L.TimeDistributed(L.Softmax())(inp)
    h = L.TimeDistributed(L.ReLU(max_value=0.3))(h)
    h = L.TimeDistributed(L.PReLU())(h)
    model = K.Model(inp, h)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    x = rng.standard_normal((2, 4, 3, 5)).astype("float32")
    ours = kt.from_keras(model)
    assert_close(model.predict(x, verbose=0), ours(torch.as_tensor(x)))


@pytest.mark.parametrize(
    "kind,config,match",
    [
        ("ReLU", {"max_value": -1.0}, "ReLU layer 'r': ReLU max_value cannot be negative"),
        ("ReLU", {"negative_slope": "x"}, "ReLU layer 'r': ReLU negative_slope must be a number"),
        ("Softmax", {"axis": "last"}, "Softmax layer 'r': Softmax axis must be"),
        ("PReLU", {"shared_axes": [0]}, "PReLU layer 'r': PReLU shared_axes must be positive"),
        ("ELU", {"alpha": 1.0, "beta": 2}, r"ELU layer 'r': unsupported config option\(s\) \['beta'\]"),
        ("LeakyReLU", {"negative_slope": -0.1}, "LeakyReLU layer 'r': LeakyReLU negative_slope cannot be"),
    ],
)
def test_activation_config_errors(kind, config, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        convert_layer(kind, {"name": "r", **config})


def test_leaky_relu_and_elu_keras1_configs(tfk):
    """Keras 1/2 configs name the slope ``alpha``; tf-keras runs it as a float32 value."""
    leaky = convert_layer("LeakyReLU", {"alpha": 0.1})
    assert leaky.negative_slope == 0.1
    x = np.linspace(-3, 3, 13)
    assert_close(tfk.layers.LeakyReLU(0.1, dtype="float64")(x), leaky.double()(torch.as_tensor(x)))
    relu = ReLU(negative_slope=0.1, max_value=1.5, keras_version=2).double()
    assert_close(tfk.layers.ReLU(1.5, 0.1, dtype="float64")(x), relu(torch.as_tensor(x)))


# ---- Dot ------------------------------------------------------------------------------------------

DOTS = [
    ((3, 4), (3, 4), {"axes": 1}),
    ((3, 5, 4), (3, 6, 4), {"axes": -1}),
    ((3, 5, 4), (3, 6, 4), {"axes": (2, 2), "normalize": True}),
    ((3, 5, 4), (3, 5, 6), {"axes": 1}),
    ((3, 4), (3, 6, 4), {"axes": (1, 2)}),
    ((3, 5, 2, 4), (3, 4, 6), {"axes": (3, 1)}),
    ((3, 4), (3, 4), {"axes": 1, "normalize": True}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("s1,s2,kw", DOTS)
def test_dot_parity(K, dtype, s1, s2, kw, rng):
    a, b = rng.standard_normal(s1).astype(dtype), rng.standard_normal(s2).astype(dtype)
    if kw.get("normalize"):
        a[0] = 0.0  # a zero vector: the epsilons differ by generation (1e-7 vs 1e-12)
    layer = K.layers.Dot(dtype=dtype, **kw)
    ours = kt.from_keras(layer)
    assert isinstance(ours, Dot) and ours.keras_version == generation(K)
    y = ours([torch.as_tensor(a), torch.as_tensor(b)])
    assert y.dtype == torch_dtype(dtype)
    assert_close(layer([a, b]), y)


def test_dot_has_no_mask_and_names_errors(K):
    ours = kt.from_keras(K.layers.Dot(axes=2))
    x = torch.ones(2, 3, 4)
    m = torch.tensor([[True, True, False]] * 2)
    assert ours.compute_mask([x, x], [m, m]) is None
    with pytest.raises(ValueError, match="A Dot layer should be called on exactly 2 inputs"):
        ours([x, x, x])
    with pytest.raises(ValueError, match=r"Dot: incompatible input shapes .* axes=2"):
        ours([x, torch.ones(2, 3, 5)])
    with pytest.raises(ValueError, match="Dot cannot take the dot product over the batch axis"):
        Dot(axes=0)([x, x])
    with pytest.raises(UnsupportedLayerError, match="Dot layer 'd': Dot axes must be"):
        convert_layer("Dot", {"name": "d", "axes": [1, 2, 3]})
    with pytest.raises(UnsupportedLayerError, match="Dot layer 'd' has no 'axes'"):
        convert_layer("Dot", {"name": "d"})


# ---- back to Keras -------------------------------------------------------------------------------


def test_activation_layers_and_dot_save_back_to_keras(K, keras3, tfk, tmp_path, rng):
    """Keras model -> kt -> .keras (read by Keras 3) and .h5 (read by tf-keras): same numbers."""
    L = K.layers
    inp = K.Input((4, 3))
    a = L.LeakyReLU(**_kw(K, "LeakyReLU", {"negative_slope": 0.1}))(L.Dense(5)(inp))
    b = L.ELU(0.7)(L.ReLU(max_value=2.0, negative_slope=0.05, threshold=0.1)(L.Dense(5)(inp)))
    b = L.PReLU(shared_axes=[1])(b)
    scores = L.Softmax(axis=[1, 2])(L.Dot(axes=2)([a, b]))
    out = L.Dot(axes=(2, 1), normalize=True)([scores, b])
    model = K.Model(inp, out)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    ours = kt.from_keras(model)
    assert_close(model.predict(x, verbose=0), ours(torch.as_tensor(x)))
    for name, reader in (("m.keras", keras3), ("m.h5", tfk)):
        kt.save_keras(ours, tmp_path / name)
        back = reader.models.load_model(tmp_path / name)
        assert_close(back.predict(x, verbose=0), ours(torch.as_tensor(x)))
