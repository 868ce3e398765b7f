"""keraslike_torch modules as plain torch.nn citizens: eval-mode loaders, pickle/torch.save/deepcopy,
meta-device construction + to_empty, caches across inference_mode/no_grad/dtype changes, unbuilt
state_dicts, PackedSequence inputs (against torch.nn.LSTM/GRU and Keras), vmap, functional_call,
nn.Sequential and threads. Every check compares numbers."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn, generation
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import keraslike_torch as kt
from keraslike_torch import layers as core
from keraslike_torch.layers import KerasOp

conv = core

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "models" / "first_equals_last.h5"
EXAMPLE_INPUTS = EXAMPLE.with_name("first_equals_last_inputs.npy")


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    """A user activation defined at module level (pickles by reference, like any function)."""
    return 0.9 * torch.tanh(x)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere (zero biases would hide bias mix-ups)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return module


def x3(b: int = 3, t: int = 5, d: int = 4, dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, t, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def flat(out: Any) -> list[torch.Tensor]:
    if isinstance(out, PackedSequence):
        return [out.data, out.batch_sizes]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def assert_same(a: Any, b: Any) -> None:
    fa, fb = flat(a), flat(b)
    assert len(fa) == len(fb)
    for p, q in zip(fa, fb):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


# ---- modules under test ------------------------------------------------------------------------

RNNS: dict[str, Callable[[], nn.Module]] = {
    "lstm": lambda: kt.LSTM(5, return_sequences=True),
    "lstm_state": lambda: kt.LSTM(5, return_state=True),
    "gru": lambda: kt.GRU(5, return_sequences=True),
    "gru_before": lambda: kt.GRU(5, reset_after=False, return_state=True),
    "simplernn": lambda: kt.SimpleRNN(5, return_sequences=True),
    "hard_sigmoid": lambda: kt.LSTM(5, recurrent_activation="hard_sigmoid", return_sequences=True),
    "hard_sigmoid_keras2": lambda: kt.LSTM(5, recurrent_activation="hard_sigmoid_keras2"),
    "custom_fn": lambda: kt.GRU(5, activation=scaled_tanh, recurrent_activation=torch.special.expit),
    "initializer_configs": lambda: kt.LSTM(
        5, kernel_initializer={"class_name": "RandomUniform", "config": {"minval": -0.3, "maxval": 0.3}},
        recurrent_initializer={"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out"}},
        bias_initializer={"class_name": "Constant", "config": {"value": 0.25}}),
    "time_major": lambda: kt.SimpleRNN(5, time_major=True, return_sequences=True, activation="relu"),
    "bi_concat": lambda: kt.Bidirectional(kt.LSTM(5, return_sequences=True)),
    "bi_none_state": lambda: kt.Bidirectional(kt.GRU(5, return_state=True), merge_mode=None),
    "bi_runner": lambda: kt.Bidirectional(kt.LSTM(5, recurrent_activation="hard_sigmoid"), merge_mode="sum"),
    "rnn_cell": lambda: kt.RNN(kt.GRUCell(5, reset_after=False), return_sequences=True),
    "stacked": lambda: kt.RNN(kt.StackedRNNCells([kt.LSTMCell(5, recurrent_activation="hard_sigmoid"),
                                                  kt.GRUCell(4)]), return_state=True),
    "bi_stacked": lambda: kt.Bidirectional(kt.RNN(kt.StackedRNNCells([kt.SimpleRNNCell(3), kt.LSTMCell(2)]))),
}


def keras_layer_cases() -> dict[str, tuple[Callable[[], nn.Module], Callable[[], Any]]]:
    """Every keras_layers module with an input it accepts."""
    x = lambda: x3(2, 6, 4)  # noqa: E731
    x4 = lambda: x3(2, 12, 4).reshape(2, 3, 4, 4)  # noqa: E731
    ids = lambda: torch.tensor([[1, 2, 0, 3, 4, 0], [5, 1, 1, 0, 0, 0]])  # noqa: E731
    pair = lambda: [x3(2, 6, 4, seed=2), x3(2, 6, 4, seed=3)]  # noqa: E731
    cases: dict[str, tuple[Callable[[], nn.Module], Callable[[], Any]]] = {
        "Dense": (lambda: core.Dense(3, activation="gelu"), x),
        "Embedding": (lambda: core.Embedding(6, 3, mask_zero=True), ids),
        "Masking": (lambda: core.Masking(0.0), x),
        "Activation": (lambda: core.Activation("hard_sigmoid"), x),
        "Dropout": (lambda: core.Dropout(0.5), x),
        "SpatialDropout1D": (lambda: core.SpatialDropout1D(0.5), x),
        "GaussianNoise": (lambda: core.GaussianNoise(0.3), x),
        "GaussianDropout": (lambda: core.GaussianDropout(0.3), x),
        "RepeatVector": (lambda: core.RepeatVector(2), lambda: x3(2, 4, 1)[:, :, 0]),
        "Flatten": (lambda: core.Flatten(), x),
        "Reshape": (lambda: core.Reshape((3, 8)), x),
        "Permute": (lambda: core.Permute((2, 1)), x),
        "Conv1D": (lambda: conv.Conv1D(3, 2, padding="causal", activation="relu"), x),
        "Conv2D": (lambda: conv.Conv2D(3, 2, padding="same", activation="relu"), x4),
        "Conv3D": (lambda: conv.Conv3D(2, 2, groups=2), lambda: x3(2, 24, 4).reshape(2, 2, 3, 4, 4)),
        "DepthwiseConv1D": (lambda: conv.DepthwiseConv1D(3, depth_multiplier=2, padding="same"), x),
        "DepthwiseConv2D": (lambda: conv.DepthwiseConv2D(2, strides=2), x4),
        "SeparableConv1D": (lambda: conv.SeparableConv1D(3, 2, padding="causal"), x),
        "SeparableConv2D": (lambda: conv.SeparableConv2D(3, 2, depth_multiplier=2), x4),
        "Conv1DTranspose": (lambda: conv.Conv1DTranspose(3, 3, strides=2, padding="same"), x),
        "Conv2DTranspose": (lambda: conv.Conv2DTranspose(3, 2, strides=2, output_padding=1), x4),
        "Conv3DTranspose": (lambda: conv.Conv3DTranspose(2, 2), lambda: x3(2, 24, 4).reshape(2, 2, 3, 4, 4)),
        "MaxPooling1D": (lambda: conv.MaxPooling1D(2), x),
        "AveragePooling1D": (lambda: conv.AveragePooling1D(2, padding="same"), x),
        "GlobalMaxPooling1D": (lambda: conv.GlobalMaxPooling1D(), x),
        "GlobalAveragePooling1D": (lambda: conv.GlobalAveragePooling1D(), x),
        "BatchNormalization": (lambda: conv.BatchNormalization(), x),
        "LayerNormalization": (lambda: conv.LayerNormalization(), x),
        "TimeDistributed": (lambda: conv.TimeDistributed(core.Dense(2)), x),
    }
    img = lambda: x3(2, 30, 4).reshape(2, 6, 5, 4)  # noqa: E731
    vol = lambda: x3(2, 60, 2).reshape(2, 3, 4, 5, 2)  # noqa: E731
    cases.update({  # the spatial layers (tests/test_spatial_layers.py)
        "MaxPooling2D": (lambda: conv.MaxPooling2D((2, 3), padding="same"), img),
        "AveragePooling2D": (lambda: conv.AveragePooling2D(3, 2, "same"), img),
        "MaxPooling3D": (lambda: conv.MaxPooling3D(2, padding="same"), vol),
        "AveragePooling3D": (lambda: conv.AveragePooling3D((1, 2, 2)), vol),
        "GlobalMaxPooling2D": (lambda: conv.GlobalMaxPooling2D(), img),
        "GlobalAveragePooling2D": (lambda: conv.GlobalAveragePooling2D(keepdims=True), img),
        "GlobalMaxPooling3D": (lambda: conv.GlobalMaxPooling3D(), vol),
        "GlobalAveragePooling3D": (lambda: conv.GlobalAveragePooling3D(), vol),
        "UpSampling1D": (lambda: core.UpSampling1D(2), x),
        "UpSampling2D": (lambda: core.UpSampling2D(2, interpolation="bilinear"), img),
        "ZeroPadding1D": (lambda: core.ZeroPadding1D((1, 2)), x),
        "ZeroPadding2D": (lambda: core.ZeroPadding2D(((1, 0), (0, 2))), img),
        "Cropping1D": (lambda: core.Cropping1D((1, 2)), x),
        "Cropping2D": (lambda: core.Cropping2D(1), img),
    })
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
        cases[name] = (lambda name=name: getattr(core, name)(), pair)
    cases.update({
        "Dot": (lambda: core.Dot(axes=2, normalize=True), pair),
        "Softmax": (lambda: core.Softmax(axis=1), x),
        "ReLU": (lambda: core.ReLU(1.0, 0.1, 0.2), x),
        "LeakyReLU": (lambda: core.LeakyReLU(0.2), x),
        "PReLU": (lambda: core.PReLU(shared_axes=[1]), x),
        "ELU": (lambda: core.ELU(0.5), x),
        "Attention": (lambda: core.Attention(use_scale=True, score_mode="concat"), pair),
        "AdditiveAttention": (lambda: core.AdditiveAttention(), pair),
        "MultiHeadAttention": (lambda: core.MultiHeadAttention(2, 3), pair),
    })
    return cases


KERAS_LAYERS = keras_layer_cases()


def test_every_keras_layer_has_a_case():
    names = set(core.__all__) - {"KerasLayer", "KerasOp"}
    assert names == set(KERAS_LAYERS)


def _call(module: nn.Module, inp: Any) -> Any:
    # training=True where it matters would draw noise; eval mode keeps the comparison exact
    return module(inp)


# ---- 1. loaders return eval mode -----------------------------------------------------------------


def _dropout_model(K: Any, rng: np.random.Generator) -> Any:
    inp = K.Input((5, 3))
    h = K.layers.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid")(inp)
    h = K.layers.Dropout(0.5)(h)
    out = K.layers.Dense(2)(K.layers.SpatialDropout1D(0.3)(h))
    model = K.Model(inp, out)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in model.get_weights()])
    return model


def test_loaders_return_eval_mode(K, tmp_path, rng):
    model = _dropout_model(K, rng)
    x = rng.standard_normal((3, 5, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / ("m.keras" if generation(K) == 3 else "m.h5")
    model.save(path)
    loaded = kt.load_model(path)
    ported = kt.from_keras(model)
    from_json = kt.model_from_json(model.to_json())
    from_json.set_keras_weights(model.get_weights())
    for ours in (loaded, ported, from_json):
        assert not any(m.training for m in ours.modules())
        y1, y2 = ours(torch.from_numpy(x)), ours(torch.from_numpy(x))
        torch.testing.assert_close(y1, y2, rtol=0, atol=0)
        np.testing.assert_allclose(y1.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
        ours.train()
        torch.manual_seed(3)
        y3 = ours(torch.from_numpy(x))
        assert float((y3 - y1).detach().abs().max()) > 1e-2  # dropout is on
        ours.eval()
        torch.testing.assert_close(ours(torch.from_numpy(x)), y1, rtol=0, atol=0)


def test_from_keras_layer_is_eval(K, rng):
    layer = build_keras_rnn(K, "LSTM", 4, 3, "float32", rng, dropout=0.5)
    ours = kt.from_keras(layer)
    assert not ours.training
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    y = ours(torch.from_numpy(x))
    np.testing.assert_allclose(y.detach().numpy(), np.asarray(layer(x)), rtol=1e-5, atol=1e-6)


# ---- 2. pickle / torch.save / deepcopy ---------------------------------------------------------------


def _pickle(m: Any) -> Any:
    return pickle.loads(pickle.dumps(m))


def _torch_save(m: Any) -> Any:
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


ROUND_TRIPS = {"pickle": _pickle, "torch.save": _torch_save, "deepcopy": copy.deepcopy}


@pytest.mark.parametrize("trip", list(ROUND_TRIPS))
@pytest.mark.parametrize("built", [True, False])
@pytest.mark.parametrize("name", list(RNNS))
def test_recurrent_round_trip(name, built, trip):
    layer = RNNS[name]()
    x = x3()
    if built:
        layer(x)
        randomize(layer)
    copied = ROUND_TRIPS[trip](layer)
    assert type(copied) is type(layer)
    if not built:  # the first call draws the weights: the initializers must have survived
        torch.manual_seed(7)
        y = layer(x)
        torch.manual_seed(7)
        yc = copied(x)
    else:
        y, yc = layer(x), copied(x)
    assert_same(yc, y)
    assert [type(m) for m in copied.modules()] == [type(m) for m in layer.modules()]


@pytest.mark.parametrize("trip", list(ROUND_TRIPS))
def test_registered_activations_and_initializers_pickle_by_name(trip):
    for name in kt.activations.names():
        act = kt.activations.get(name)
        assert ROUND_TRIPS[trip](act) is act  # the registry's own object comes back
    x = torch.linspace(-4, 4, 33, dtype=torch.float64)
    custom = kt.activations.get(scaled_tanh)
    torch.testing.assert_close(ROUND_TRIPS[trip](custom)(x), 0.9 * torch.tanh(x), rtol=0, atol=0)
    for ident in ["glorot_uniform", "orthogonal", "zeros", {"class_name": "TruncatedNormal",
                                                          "config": {"mean": 1.0, "stddev": 0.1}}]:
        init = kt.initializers.get(ident)
        again = ROUND_TRIPS[trip](init)
        a, b = torch.empty(6, 5, dtype=torch.float64), torch.empty(6, 5, dtype=torch.float64)
        torch.manual_seed(11)
        init(a)
        torch.manual_seed(11)
        again(b)
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_user_lambda_activation_fails_as_python_does():
    layer = kt.LSTM(3, activation=lambda t: torch.tanh(t))
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(layer)


@pytest.mark.parametrize("trip", list(ROUND_TRIPS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stateful_round_trip_keeps_states(trip, bidirectional):
    base = kt.LSTM(4, stateful=True, return_state=True, input_size=4)
    layer = kt.Bidirectional(base) if bidirectional else base
    randomize(layer)
    layer(x3(seed=1))
    copied = ROUND_TRIPS[trip](layer)
    assert_same(copied.states, layer.states)
    assert_same(copied(x3(seed=2)), layer(x3(seed=2)))  # continues from the stored states


@pytest.mark.parametrize("trip", list(ROUND_TRIPS))
@pytest.mark.parametrize("built", [True, False])
@pytest.mark.parametrize("name", list(KERAS_LAYERS))
def test_keras_layer_round_trip(name, built, trip):
    make, inp = KERAS_LAYERS[name]
    layer = make().eval()
    if built:
        layer(inp())
        randomize(layer)
    copied = ROUND_TRIPS[trip](layer)
    torch.manual_seed(5)
    y = layer(inp())
    torch.manual_seed(5)
    assert_same(copied(inp()), y)
    if name in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout"):
        torch.manual_seed(5)
        yt = layer(inp(), training=True)
        torch.manual_seed(5)
        assert_same(copied(inp(), training=True), yt)
        assert float((yt - y).abs().max()) > 0


@pytest.fixture(scope="module")
def example_model() -> kt.KerasModel:
    return kt.load_model(EXAMPLE)


def example_ids() -> torch.Tensor:
    return torch.from_numpy(np.load(EXAMPLE_INPUTS)).long()


@pytest.mark.parametrize("trip", list(ROUND_TRIPS))
def test_loaded_model_round_trip(example_model, trip):
    copied = ROUND_TRIPS[trip](example_model)
    assert not copied.training
    assert_same(copied(example_ids()), example_model(example_ids()))


@pytest.mark.parametrize("trip", list(ROUND_TRIPS))
def test_keras3_model_with_ops_round_trip(keras3, tmp_path, rng, trip):
    K = keras3
    inp = K.Input((6,), dtype="int32")
    e = K.layers.Embedding(7, 4, mask_zero=True)(inp)
    h = K.layers.LSTM(3, return_sequences=True)(e)
    h = K.layers.Concatenate()([h, e])
    out = K.layers.GRU(2, recurrent_activation="hard_sigmoid")(h)
    model = K.Model(inp, out)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in model.get_weights()])
    model.save(tmp_path / "ops.keras")
    ours = kt.load_model(tmp_path / "ops.keras")
    ids = torch.tensor([[1, 2, 3, 0, 0, 0], [4, 5, 6, 1, 2, 0]])
    assert any(isinstance(m, KerasOp) for m in ours.modules())  # mask ops, rebuilt from their config
    copied = ROUND_TRIPS[trip](ours)
    assert_same(copied(ids), ours(ids))
    np.testing.assert_allclose(copied(ids).detach().numpy(), model.predict(ids.numpy(), verbose=0),
                               rtol=1e-5, atol=1e-6)


# ---- 3. meta device + to_empty + load_state_dict ---------------------------------------------------


def _to_empty_poisoned(module: nn.Module) -> nn.Module:
    """to_empty with uninitialized memory filled with NaN (deterministically, instead of whatever
    the allocator hands out), so that any state it leaves behind shows."""
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return module.to_empty(device="cpu")
    finally:
        torch.use_deterministic_algorithms(was)


META_CASES: dict[str, Callable[[], nn.Module]] = {
    "lstm": lambda: kt.LSTM(6, input_size=4, return_sequences=True),
    "gru_after": lambda: kt.GRU(6, input_size=4, return_state=True),
    "gru_before": lambda: kt.GRU(6, input_size=4, reset_after=False),
    "simplernn": lambda: kt.SimpleRNN(6, input_size=4),
    "lstm_runner": lambda: kt.LSTM(6, input_size=4, recurrent_activation="hard_sigmoid"),
    "lstm_no_bias": lambda: kt.LSTM(6, input_size=4, use_bias=False),
    "bi_lstm": lambda: kt.Bidirectional(kt.LSTM(6, input_size=4, return_sequences=True)),
    "bi_gru": lambda: kt.Bidirectional(kt.GRU(6, input_size=4), merge_mode="ave"),
    "stacked": lambda: kt.RNN(kt.StackedRNNCells([kt.LSTMCell(6, input_size=4), kt.GRUCell(3, input_size=6)])),
    "dense": lambda: core.Dense(3, input_size=4),
    "masking": lambda: core.Masking(0.0),
    "activation": lambda: core.Activation("tanh"),
    "conv1d": lambda: conv.Conv1D(3, 2, input_size=4),
    "avgpool": lambda: conv.AveragePooling1D(2),
    "globalmax": lambda: conv.GlobalMaxPooling1D(),
    "batchnorm": lambda: conv.BatchNormalization(num_features=4),
    "layernorm": lambda: conv.LayerNormalization(param_shape=(4,)),
}


@pytest.mark.parametrize("name", list(META_CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_meta_to_empty_load_state_dict(name, dtype):
    make = META_CASES[name]
    original = randomize(make().to(dtype))
    with torch.device("meta"):
        m = make().to(dtype)
    assert all(t.is_meta for t in m.state_dict().values())
    _to_empty_poisoned(m).load_state_dict(original.state_dict())
    x = x3(3, 5, 4, dtype=dtype)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1] * 5, [0, 1, 1, 1, 0]], dtype=torch.bool)
    assert_same(m(x), original(x))
    if isinstance(original, (kt.RNN, kt.Bidirectional)):
        assert_same(m(x, mask=mask), original(x, mask=mask))


def test_meta_assign_load_state_dict():
    original = randomize(kt.LSTM(6, input_size=4, return_state=True))
    with torch.device("meta"):
        m = kt.LSTM(6, input_size=4, return_state=True)
    m.load_state_dict(original.state_dict(), assign=True)
    assert_same(m(x3()), original(x3()))


def test_meta_loaded_model(example_model):
    with torch.device("meta"):
        m = kt.load_model(EXAMPLE)
    _to_empty_poisoned(m).load_state_dict(example_model.state_dict())
    assert_same(m(example_ids()), example_model(example_ids()))


# ---- 4. caches across inference_mode / no_grad / dtype ---------------------------------------------


def _train_step(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    m.zero_grad()
    out = m(x)
    loss = sum((o.float() ** 2).sum() for o in flat(out) if o.is_floating_point())
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in m.parameters()]


CACHE_CASES = {k: RNNS[k] for k in ("lstm", "gru_before", "hard_sigmoid", "hard_sigmoid_keras2", "custom_fn",
                                     "simplernn", "bi_runner", "bi_none_state", "stacked")}


@pytest.mark.parametrize("name", list(CACHE_CASES))
@pytest.mark.parametrize("first", ["inference_mode", "no_grad"])
@pytest.mark.parametrize("built", [True, False])
def test_first_call_mode_then_training_step(name, first, built):
    make = CACHE_CASES[name]
    x = x3()
    torch.manual_seed(3)
    probe, fresh = make(), make()
    if built:  # built by loading weights, never called: the first call makes the caches
        source = make()
        source(x)
        randomize(source)
        probe.load_state_dict(source.state_dict())
        fresh.load_state_dict(source.state_dict())
    ctx = torch.inference_mode() if first == "inference_mode" else torch.no_grad()
    torch.manual_seed(9)
    with ctx:
        y_first = probe(x)
    if not built:
        torch.manual_seed(9)
        fresh(x)  # same draws: same weights
    assert not any(p.is_inference() for p in probe.parameters())
    # compared without grad as it was made: oneDNN's LSTM forward can round differently with and
    # without autograd (torch.nn.LSTM too, by 1 ulp on an AVX2-only CPU)
    with torch.no_grad():
        assert_same(y_first, fresh(x))
    loss, grads = _train_step(probe, x)
    loss_ref, grads_ref = _train_step(fresh, x)
    torch.testing.assert_close(loss, loss_ref, rtol=0, atol=0)
    for g, r in zip(grads, grads_ref):
        torch.testing.assert_close(g, r, rtol=0, atol=0)


def test_example_model_inference_then_training():
    m, fresh = kt.load_model(EXAMPLE), kt.load_model(EXAMPLE)  # fresh: no caches made yet
    ids = example_ids()
    with torch.inference_mode():
        m(ids)
    for a, b in zip(_train_step(m, ids)[1], _train_step(fresh, ids)[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["lstm", "hard_sigmoid", "gru_before", "bi_runner"])
def test_double_after_float_call(name):
    layer = RNNS[name]()
    layer(x3())
    randomize(layer)
    ref = copy.deepcopy(layer).double()
    layer(x3())  # caches made in float32
    layer.double()
    x = x3(dtype=torch.float64)
    assert_same(layer(x), ref(x))
    for a, b in zip(_train_step(layer, x)[1], _train_step(ref, x)[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # and a float64 Keras-order check of the weights themselves
    for a, b in zip(layer.get_keras_weights(), ref.get_keras_weights()):
        np.testing.assert_array_equal(a, b)


# ---- 5. state_dict of unbuilt layers ---------------------------------------------------------------

LAZY_CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]] = {
    "lstm": (lambda: kt.LSTM(5, return_sequences=True), x3),
    "gru": (lambda: kt.GRU(5, reset_after=False), x3),
    "simplernn": (lambda: kt.SimpleRNN(5), x3),
    "bi": (lambda: kt.Bidirectional(kt.LSTM(5)), x3),
    "dense": (lambda: core.Dense(3), x3),
    "conv1d": (lambda: conv.Conv1D(4, 2, groups=2), x3),
    "batchnorm": (lambda: conv.BatchNormalization(), x3),
    "layernorm": (lambda: conv.LayerNormalization(axis=[-2, -1]), x3),
    "timedistributed": (lambda: conv.TimeDistributed(core.Dense(2)), x3),
}


@pytest.mark.parametrize("name", list(LAZY_CASES))
def test_unbuilt_state_dict_like_torch_lazy_modules(name):
    make, inp = LAZY_CASES[name]
    unbuilt, built = make().eval(), make().eval()
    built(inp())
    randomize(built)
    sd = unbuilt.state_dict()
    assert list(sd) == list(built.state_dict())  # same keys, built or not
    lazy = [k for k, v in sd.items() if nn.parameter.is_lazy(v)]
    assert lazy  # what torch.nn.LazyLinear gives: UninitializedParameter entries
    # unbuilt -> unbuilt: stays unbuilt and keeps working
    other = make().eval()
    other.load_state_dict(sd)
    assert all(nn.parameter.is_lazy(v) for k, v in other.state_dict().items() if k in lazy)
    torch.manual_seed(4)
    y_other = other(inp())
    torch.manual_seed(4)
    assert_same(y_other, make().eval()(inp()))
    # built -> unbuilt: builds it, same numbers
    target = make().eval()
    target.load_state_dict(built.state_dict())
    assert_same(target(inp()), built(inp()))
    # a built state_dict survives torch.load(weights_only=True)
    buf = io.BytesIO()
    torch.save(built.state_dict(), buf)
    buf.seek(0)
    again = make().eval()
    again.load_state_dict(torch.load(buf, weights_only=True))
    assert_same(again(inp()), built(inp()))


def test_unbuilt_state_dict_into_built_layer_is_an_error():
    built = kt.LSTM(5, input_size=4)
    with pytest.raises(RuntimeError, match="uninitialized"):
        built.load_state_dict(kt.LSTM(5).state_dict())


# ---- 8. PackedSequence ---------------------------------------------------------------------------

LENGTHS = [3, 6, 1, 4]


def packed_case(dtype: torch.dtype = torch.float32, enforce_sorted: bool = False, time_major: bool = False,
                lengths: list[int] = LENGTHS) -> tuple[PackedSequence, torch.Tensor, torch.Tensor]:
    """(packed input, padded input in the layer's layout, Keras mask in the layer's layout)."""
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    b, t = len(lengths), max(lengths)
    x = x3(b, t, 3, dtype=dtype, seed=5)
    valid = torch.arange(t).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    x = x * valid.unsqueeze(-1)  # padding is zeros, as pad_packed_sequence gives
    if time_major:
        x, valid = x.transpose(0, 1).contiguous(), valid.t().contiguous()
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=not time_major,
                                  enforce_sorted=enforce_sorted)
    return packed, x, valid


def _expected_packed(y: torch.Tensor, packed: PackedSequence, time_major: bool) -> torch.Tensor:
    """The valid steps of a padded output in PackedSequence data order (built independently)."""
    tm = y if time_major else y.transpose(0, 1)
    order = packed.sorted_indices if packed.sorted_indices is not None else torch.arange(tm.shape[1])
    rows = [tm[t, order[:int(n)]] for t, n in enumerate(packed.batch_sizes)]
    return torch.cat(rows, 0)


PACKED_KINDS: dict[str, Callable[..., nn.Module]] = {
    "lstm": lambda **kw: kt.LSTM(4, input_size=3, **kw),
    "gru": lambda **kw: kt.GRU(4, input_size=3, **kw),
    "gru_before": lambda **kw: kt.GRU(4, input_size=3, reset_after=False, **kw),
    "simplernn": lambda **kw: kt.SimpleRNN(4, input_size=3, **kw),
    "hard_sigmoid": lambda **kw: kt.LSTM(4, input_size=3, recurrent_activation="hard_sigmoid", **kw),
}


@pytest.mark.parametrize("kind", list(PACKED_KINDS))
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("time_major", [False, True])
def test_packed_equals_padded_with_mask(kind, return_sequences, enforce_sorted, time_major):
    layer = randomize(PACKED_KINDS[kind](return_sequences=return_sequences, return_state=True,
                                         time_major=time_major))
    packed, x, mask = packed_case(enforce_sorted=enforce_sorted, time_major=time_major)
    y, *states = layer(packed)
    y_ref, *states_ref = layer(x, mask=mask)
    if return_sequences:
        assert isinstance(y, PackedSequence)
        assert torch.equal(y.batch_sizes, packed.batch_sizes)
        for a, b in ((y.sorted_indices, packed.sorted_indices), (y.unsorted_indices, packed.unsorted_indices)):
            assert (a is None and b is None) or torch.equal(a, b)
        torch.testing.assert_close(y.data, _expected_packed(y_ref, packed, time_major), rtol=0, atol=0)
    else:
        torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    assert_same(states, states_ref)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("kind", ["lstm", "gru", "hard_sigmoid"])
def test_packed_bidirectional(merge, return_sequences, enforce_sorted, kind):
    layer = randomize(kt.Bidirectional(PACKED_KINDS[kind](return_sequences=return_sequences, return_state=True),
                                       merge_mode=merge))
    packed, x, mask = packed_case(enforce_sorted=enforce_sorted)
    out, ref = layer(packed), layer(x, mask=mask)
    n = 2 if merge is None else 1
    for i, (a, b) in enumerate(zip(out, ref)):
        if return_sequences and i < n:
            assert isinstance(a, PackedSequence) and torch.equal(a.batch_sizes, packed.batch_sizes)
            torch.testing.assert_close(a.data, _expected_packed(b, packed, False), rtol=0, atol=0)
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("merge", ["concat", None])
def test_packed_bidirectional_time_major(merge):
    layer = randomize(kt.Bidirectional(kt.GRU(4, input_size=3, return_sequences=True, return_state=True,
                                              time_major=True), merge_mode=merge))
    packed, x, mask = packed_case(enforce_sorted=False, time_major=True)
    out, ref = layer(packed), layer(x, mask=mask)
    n = 2 if merge is None else 1
    for i, (a, b) in enumerate(zip(out, ref)):
        if i < n:
            torch.testing.assert_close(a.data, _expected_packed(b, packed, True), rtol=0, atol=0)
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_packed_matches_torch_nn(kind, bidirectional, enforce_sorted):
    """torch.nn.LSTM/GRU on the same PackedSequence: same packed output (data, batch_sizes,
    sorted/unsorted indices) and h_n/c_n in the original batch order."""
    torch.manual_seed(0)
    ref = getattr(nn, kind)(3, 4, batch_first=True, bidirectional=bidirectional, dtype=torch.float64)
    inner = getattr(kt, kind)(4, input_size=3, return_sequences=True, return_state=True, dtype=torch.float64)
    ours = kt.Bidirectional(inner) if bidirectional else inner
    directions = [ours.forward_layer, ours.backward_layer] if bidirectional else [ours]
    with torch.no_grad():
        for d, layer in enumerate(directions):
            sfx = "_l0" + ("_reverse" if d else "")
            c = layer.cell
            c.weight_ih.copy_(getattr(ref, "weight_ih" + sfx))
            c.weight_hh.copy_(getattr(ref, "weight_hh" + sfx))
            if kind == "LSTM":
                c.bias.copy_(getattr(ref, "bias_ih" + sfx) + getattr(ref, "bias_hh" + sfx))
            else:
                c.bias_ih.copy_(getattr(ref, "bias_ih" + sfx))
                c.bias_hh.copy_(getattr(ref, "bias_hh" + sfx))
    packed, _, _ = packed_case(torch.float64, enforce_sorted)
    out_ref, hx = ref(packed)
    out, *states = ours(packed)
    assert torch.equal(out.batch_sizes, out_ref.batch_sizes)
    for a, b in ((out.sorted_indices, out_ref.sorted_indices), (out.unsorted_indices, out_ref.unsorted_indices)):
        assert (a is None and b is None) or torch.equal(a, b)
    torch.testing.assert_close(out.data, out_ref.data, rtol=1e-12, atol=1e-13)
    hx = hx if kind == "LSTM" else (hx,)
    # ours: forward states then backward states; torch: (D, B, u) per state kind
    n = len(hx)
    for d in range(2 if bidirectional else 1):
        for j in range(n):
            torch.testing.assert_close(states[d * n + j], hx[j][d], rtol=1e-12, atol=1e-13)
    # the padded output of both in the original order, too
    padded, _ = pad_packed_sequence(out, batch_first=True)
    padded_ref, _ = pad_packed_sequence(out_ref, batch_first=True)
    torch.testing.assert_close(padded, padded_ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind,kw", [("LSTM", {}), ("GRU", {"reset_after": False}),
                                     ("LSTM", {"recurrent_activation": "hard_sigmoid"})])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_against_keras(K, kind, kw, bidirectional, rng, tf):
    """A Keras layer given the padded batch and the mask from the lengths; ours given the
    PackedSequence: equal states and outputs at the valid steps."""
    dtype = "float64"
    if bidirectional:
        layer = K.layers.Bidirectional(getattr(K.layers, kind)(4, return_sequences=True, return_state=True,
                                                               dtype=dtype, **kw), dtype=dtype)
        layer.build((None, None, 3))
        layer.set_weights([(rng.standard_normal(w.shape) * 0.6).astype(dtype) for w in layer.get_weights()])
    else:
        layer = build_keras_rnn(K, kind, 4, 3, dtype, rng, return_sequences=True, return_state=True, **kw)
    ours = kt.from_keras(layer)
    packed, x, mask = packed_case(torch.float64, enforce_sorted=False)
    keras_out = layer(tf.constant(x.numpy()), mask=tf.constant(mask.numpy()))
    out = ours(packed)
    seq, keras_seq = out[0], np.asarray(keras_out[0])
    assert isinstance(seq, PackedSequence)
    expected = _expected_packed(torch.from_numpy(keras_seq), packed, False)
    report = kt.testing.compare_outputs([expected, *keras_out[1:]], [seq.data, *out[1:]])
    assert report.ok, str(report)


def test_packed_gradients_equal_padded_with_mask():
    layer = randomize(kt.LSTM(4, input_size=3, recurrent_activation="hard_sigmoid", return_sequences=True))
    packed, x, mask = packed_case(torch.float64, False)
    layer.double()
    data = packed.data.clone().requires_grad_(True)
    y = layer(packed._replace(data=data))
    (y.data ** 2).sum().backward()
    g_packed = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    y_ref = layer(x, mask=mask)
    (_expected_packed(y_ref, packed, False) ** 2).sum().backward()
    for a, b in zip(g_packed, layer.parameters()):
        torch.testing.assert_close(a, b.grad, rtol=1e-12, atol=1e-13)
    assert data.grad is not None and float(data.grad.abs().sum()) > 0


def test_packed_stateful_and_initial_state():
    layer = randomize(kt.GRU(4, input_size=3, return_state=True, stateful=True))
    ref = copy.deepcopy(layer)
    packed, x, mask = packed_case(enforce_sorted=False)
    h0 = torch.randn(len(LENGTHS), 4)
    assert_same(layer(packed, initial_state=h0), ref(x, mask=mask, initial_state=h0))
    assert_same(layer(packed), ref(x, mask=mask))  # continues from the stored (original order) states
    assert_same(layer.states, ref.states)


def test_packed_errors():
    packed, x, mask = packed_case()
    with pytest.raises(ValueError, match="carries its mask"):
        kt.LSTM(4, input_size=3)(packed, mask=mask)
    with pytest.raises(ValueError, match="go_backwards=True, return_sequences=True"):
        kt.LSTM(4, input_size=3, go_backwards=True, return_sequences=True)(packed)
    # go_backwards without sequences is fine: equal to the padded input with the mask
    layer = kt.LSTM(4, input_size=3, go_backwards=True, return_state=True)
    assert_same(layer(packed), layer(x, mask=mask))


# ---- 9. vmap --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lstm", "hard_sigmoid", "bi_concat"])
def test_vmap_raises_clear_error_and_the_fold_it_suggests_is_right(name):
    layer = RNNS[name]()
    xs = torch.randn(2, 3, 5, 4)
    layer(xs[0])
    with pytest.raises(RuntimeError, match="vmap is not supported .* fold the mapped axis into the batch"):
        torch.func.vmap(layer)(xs)
    folded = layer(xs.flatten(0, 1)).unflatten(0, (2, 3))
    looped = torch.stack([layer(xs[i]) for i in range(2)])
    torch.testing.assert_close(folded, looped, rtol=1e-6, atol=1e-7)
    # stacked parameters (an ensemble) under vmap: the same clear error
    params = {k: torch.stack([v, v * 0.5]) for k, v in layer.named_parameters()}
    with pytest.raises(RuntimeError, match="vmap is not supported"):
        torch.func.vmap(lambda p: torch.func.functional_call(layer, p, (xs[0],)))(params)


@pytest.mark.parametrize("name", ["Dense", "Conv1D", "LayerNormalization", "Activation", "GlobalAveragePooling1D"])
def test_vmap_over_keras_layers_equals_a_loop(name):
    make, _ = KERAS_LAYERS[name]
    layer = make().eval()
    xs = torch.randn(3, 2, 6, 4, dtype=torch.float64)
    layer.double()(xs[0])
    randomize(layer)
    looped = torch.stack([layer(xs[i]) for i in range(3)])
    torch.testing.assert_close(torch.func.vmap(layer)(xs), looped, rtol=1e-12, atol=1e-12)


# ---- things plain torch modules do that keep working -------------------------------------------------


@pytest.mark.parametrize("name", ["lstm", "hard_sigmoid", "gru_before", "bi_runner"])
def test_functional_call(name):
    layer = RNNS[name]()
    x = x3()
    layer(x)
    other = randomize(copy.deepcopy(layer), seed=3)
    params = dict(other.named_parameters())
    assert_same(torch.func.functional_call(layer, params, (x,)), other(x))
    assert float((flat(layer(x))[0] - flat(other(x))[0]).detach().abs().max()) > 1e-3  # the params mattered


def test_sequential():
    seq = nn.Sequential(kt.LSTM(5, return_sequences=True), kt.GRU(3, recurrent_activation="hard_sigmoid"),
                        core.Dense(2))
    x = x3()
    y = seq(x)
    assert_same(y, seq[2](seq[1](seq[0](x))))
    assert_same(copy.deepcopy(seq)(x), y)


@pytest.mark.parametrize("name", ["lstm", "hard_sigmoid", "gru_before", "bi_runner"])
def test_threads_share_one_module(name):
    layer = RNNS[name]()
    xs = [x3(seed=s) for s in range(4)]
    layer(xs[0])
    with torch.no_grad():  # as the threads run it (oneDNN's LSTM may round differently with grad)
        expected = [layer(x) for x in xs]
    results: dict[int, Any] = {}

    def work(i: int) -> None:
        with torch.no_grad():
            for _ in range(5):
                results[i] = layer(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert_same(results[i], expected[i])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["lstm", "simplernn", "bi_lstm"])
def test_meta_to_empty_on_cuda_flattens_with_the_zero_bias(name):
    original = randomize(META_CASES[name]())
    with torch.device("meta"):
        m = META_CASES[name]()
    m.to_empty(device="cuda").load_state_dict(original.state_dict())
    x = x3(3, 5, 4)
    torch.testing.assert_close(m(x.cuda()).cpu(), original(x), rtol=1e-5, atol=1e-6)
    for cell in (c for c in m.modules() if isinstance(c, kt.cells.RecurrentCell)):
        assert float(cell._zero_bias.abs().max()) == 0.0
        if torch.backends.cudnn.is_available():  # one flat buffer, zero bias included
            ptrs = {w.untyped_storage().data_ptr() for w in cell.fused_weights()}
            assert len(ptrs) == 1
