"""Attention, AdditiveAttention and MultiHeadAttention against Keras 3 and tf-keras: outputs and
attention scores (float32 and float64), masks, causal masks, dropout at inference, gradients
(tf.GradientTape, float64), weights, and model files of both formats (.keras written by Keras 3,
.h5 by tf-keras) through kt.load_model and kt.from_keras."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch.converters import UnsupportedLayerError, convert_layer
from keraslike_torch.layers import AdditiveAttention, Attention, MultiHeadAttention

DTYPES = ["float32", "float64"]


def kout(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def assert_close(keras_out, torch_out, **tol) -> None:
    if isinstance(keras_out, (list, tuple)):
        keras_out = [kout(k) for k in keras_out]
    else:
        keras_out = kout(keras_out)
    report = kt.testing.compare_outputs(keras_out, torch_out, **tol)
    assert report.ok, str(report)


def randomize(layer, rng, dtype) -> None:
    layer.set_weights([(rng.standard_normal(w.shape) * 0.7).astype(dtype) for w in layer.get_weights()])


def masks(rng, b: int, t: int) -> np.ndarray:
    m = rng.random((b, t)) > 0.3
    m[:, 0] = True
    m[0, -2:] = False  # padding at the end
    return m


# ---- Attention / AdditiveAttention -----------------------------------------------------------------

DENSE = [
    ("Attention", {}),
    ("Attention", {"use_scale": True}),
    ("Attention", {"use_scale": True, "score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "dropout": 0.4}),
    ("AdditiveAttention", {}),
    ("AdditiveAttention", {"use_scale": False}),
]
CALLS = [
    {"key": False, "mask": False, "causal": False, "scores": True},
    {"key": True, "mask": True, "causal": False, "scores": True},
    {"key": False, "mask": True, "causal": True, "scores": False},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("call", CALLS, ids=["plain", "key-mask", "mask-causal"])
@pytest.mark.parametrize("kind,kw", DENSE, ids=[f"{k}-{v}" for k, v in DENSE])
def test_dense_attention_parity(K, dtype, kind, kw, call, rng):
    b, tq, tv, d = 3, 4, 5, 6
    q = rng.standard_normal((b, tq, d)).astype(dtype)
    v = rng.standard_normal((b, tv, d)).astype(dtype)
    k = rng.standard_normal((b, tv, d)).astype(dtype)
    xs = [q, v, k] if call["key"] else [q, v]
    layer = getattr(K.layers, kind)(dtype=dtype, **kw)
    layer.build([x.shape for x in xs])
    randomize(layer, rng, dtype)
    ours = kt.from_keras(layer)
    assert isinstance(ours, (Attention, AdditiveAttention)) and ours.keras_version == generation(K)
    assert ours.count_params() == layer.count_params() and not ours.training
    for a, w in zip(ours.get_keras_weights(), layer.get_weights(), strict=True):
        assert a.dtype == w.dtype and np.array_equal(a, w)
    kwargs = {"return_attention_scores": call["scores"], "use_causal_mask": call["causal"]}
    mask = [masks(rng, b, tq), masks(rng, b, tv)] if call["mask"] else None
    expected = layer(xs, mask=mask, **kwargs)
    got = ours([torch.as_tensor(x) for x in xs], mask=None if mask is None else [torch.as_tensor(m) for m in mask],
               **kwargs)
    assert_close(expected, got)
    out = got[0] if call["scores"] else got
    assert out.dtype == torch_dtype(dtype)
    if mask is not None:
        assert torch.equal(ours.compute_mask(xs, [torch.as_tensor(m) for m in mask]), torch.as_tensor(mask[0]))


def test_attention_dropout_only_in_training(K, rng):
    q = rng.standard_normal((2, 3, 4)).astype("float32")
    layer = K.layers.Attention(dropout=0.5)
    ours = kt.from_keras(layer)
    assert_close(layer([q, q], training=False), ours([torch.as_tensor(q)] * 2))
    torch.manual_seed(1)
    trained = ours([torch.as_tensor(q)] * 2, training=True)
    assert not torch.allclose(trained, ours([torch.as_tensor(q)] * 2))


def test_tf_keras_causal_constructor_config(tfk, rng):
    """tf-keras's deprecated ``causal=True`` (written into configs by older TensorFlow)."""
    q = rng.standard_normal((2, 4, 3)).astype("float32")
    layer = tfk.layers.Attention(causal=True)
    ours = convert_layer("Attention", {**layer.get_config(), "causal": True})
    assert_close(layer([q, q]), ours([torch.as_tensor(q)] * 2))


def test_additive_attention_lazy_and_citizen(rng):
    a = AdditiveAttention()
    assert a.keras_weight_trainable() == [True] and a.count_params() == 0
    a([torch.zeros(1, 2, 3), torch.zeros(1, 4, 3)])
    scale = rng.standard_normal(3).astype("float32")
    a.set_keras_weights([scale])
    for clone in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert np.array_equal(clone.get_keras_weights()[0], scale)
    b = AdditiveAttention()
    b.load_state_dict(a.state_dict())
    assert np.array_equal(b.get_keras_weights()[0], scale)
    with pytest.raises(ValueError, match=r"AdditiveAttention 'x' expects 1 weights with shapes \[\(3,\)\]"):
        AdditiveAttention(name="x", input_size=3).set_keras_weights([np.ones(4, "float32")])


def test_dense_attention_errors():
    with pytest.raises(ValueError, match="Attention layer must be called on a list of inputs"):
        Attention()(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="Attention layer accepts a list of 2 or 3 inputs"):
        Attention()([torch.zeros(1, 2, 3)])
    with pytest.raises(ValueError, match=r"Attention layer mask must be a list \[query_mask, value_mask\]"):
        Attention()([torch.zeros(1, 2, 3)] * 2, mask=torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(UnsupportedLayerError, match="Attention layer 'a': Attention score_mode must be"):
        convert_layer("Attention", {"name": "a", "score_mode": "general"})


# ---- MultiHeadAttention -------------------------------------------------------------------------

MHA = [
    {"num_heads": 2, "key_dim": 3},
    {"num_heads": 3, "key_dim": 2, "value_dim": 4, "use_bias": False, "output_shape": 5},
    {"num_heads": 2, "key_dim": 4, "dropout": 0.3},
    {"num_heads": 1, "key_dim": 2, "output_shape": (2, 3)},
]
MHA_CALLS = [
    {"key": False, "attention_mask": False, "causal": False, "scores": False},
    {"key": True, "attention_mask": True, "causal": False, "scores": False},
    {"key": False, "attention_mask": True, "causal": True, "scores": True},
    {"key": True, "attention_mask": False, "causal": True, "scores": False},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("call", MHA_CALLS, ids=["plain", "key-mask", "mask-causal-scores", "key-causal"])
@pytest.mark.parametrize("kw", MHA, ids=["default", "value_dim-nobias-out", "dropout", "out2d"])
def test_multi_head_attention_parity(K, dtype, kw, call, rng):
    b, t, s = 3, 4, 5
    q = rng.standard_normal((b, t, 6)).astype(dtype)
    v = rng.standard_normal((b, s, 7)).astype(dtype)
    k = rng.standard_normal((b, s, 8)).astype(dtype)
    layer = K.layers.MultiHeadAttention(dtype=dtype, **kw)
    args = [q, v, k] if call["key"] else [q, v]
    kwargs = {"return_attention_scores": call["scores"], "use_causal_mask": call["causal"]}
    if call["attention_mask"]:
        am = rng.random((b, t, s)) > 0.4
        am[0, 0] = False  # one query attends to nothing
        kwargs["attention_mask"] = am
    layer(*args, **kwargs)  # builds
    randomize(layer, rng, dtype)
    ours = kt.from_keras(layer)
    assert isinstance(ours, MultiHeadAttention) and ours.keras_version == generation(K)
    assert ours.count_params() == layer.count_params()
    assert [w.shape for w in ours.get_keras_weights()] == [w.shape for w in layer.get_weights()]
    expected = layer(*args, **kwargs)
    tkw = {k_: (torch.as_tensor(v_) if isinstance(v_, np.ndarray) else v_) for k_, v_ in kwargs.items()}
    got = ours(*[torch.as_tensor(x) for x in args], **tkw)
    # float32: four chained einsums whose summation order differs from TensorFlow's (cancellation
    # near zero reaches 3e-6 absolute); float64 is held to the default 1e-12
    assert_close(expected, got, **({"atol": 1e-5} if dtype == "float32" else {}))
    assert (got[0] if call["scores"] else got).dtype == torch_dtype(dtype)


def test_multi_head_attention_citizen(rng):
    m = MultiHeadAttention(2, 3, name="mha")
    assert m.count_params() == 0 and m.get_keras_weights() == []
    m(torch.zeros(1, 2, 4), torch.zeros(1, 3, 5))
    weights = [rng.standard_normal(w.shape).astype("float32") for w in m.get_keras_weights()]
    m.set_keras_weights(weights)
    x, y = torch.randn(2, 2, 4), torch.randn(2, 3, 5)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert torch.equal(clone(x, y), m(x, y))
    fresh = MultiHeadAttention(2, 3)
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh(x, y), m(x, y))
    lazy = MultiHeadAttention(2, 3)
    lazy.set_keras_weights(weights)
    assert lazy.input_sizes == (4, 5, 5) and torch.equal(lazy(x, y), m(x, y))
    bad = [w for w in weights]
    bad[3] = np.ones((3, 3), "float32")
    before = [w.copy() for w in m.get_keras_weights()]
    with pytest.raises(ValueError, match="MultiHeadAttention 'mha' expects 8 weights"):
        m.set_keras_weights(bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_keras_weights()))
    with pytest.raises(ValueError, match="MultiHeadAttention was built for"):
        m(torch.zeros(1, 2, 3), y)
    with pytest.raises(ValueError, match=r"MultiHeadAttention supports query of rank 3"):
        m(torch.zeros(1, 2, 2, 4), y)
    assert m.double()(x.double(), y.double()).dtype == torch.float64


@pytest.mark.parametrize(
    "config,match",
    [
        ({"attention_axes": [2]}, r"attention_axes=\[2\] is not supported"),
        ({"use_gate": True}, "use_gate=True is not supported"),
        ({"sliding_window": 4}, "sliding_window=4 is not supported"),
        ({"query_shape": [None, 2, 3, 4]}, r"query_shape=\[None, 2, 3, 4\] is not supported \(only inputs of rank 3"),
        ({"key_dim": None}, "has no 'key_dim'"),
        ({"num_heads": 2.5}, "'num_heads' must be a positive int, got 2.5"),
        ({"value_dim": 0}, "'value_dim' must be a positive int, got 0"),
    ],
)
def test_multi_head_attention_config_errors(config, match):
    with pytest.raises(UnsupportedLayerError, match="MultiHeadAttention layer 'm'.*" + match):
        convert_layer("MultiHeadAttention", {"name": "m", "num_heads": 2, "key_dim": 3, **config})


def test_multi_head_attention_config_within_parameter_budget():
    from keraslike_torch.converters import ConvertContext

    ctx = ConvertContext(param_budget=10_000)
    shape = [None, 5, 4]
    config = {"name": "big", "num_heads": 1000, "key_dim": 1000, "query_shape": shape, "value_shape": shape}
    with pytest.raises(kt.KerasFileError, match="MultiHeadAttention layer 'big': num_heads=1000, key_dim=1000 ask for"):
        convert_layer("MultiHeadAttention", config, ctx)


# ---- gradients ----------------------------------------------------------------------------------


def _grad_parity(tf, layer, ours, xs, call) -> None:
    txs = [torch.as_tensor(x).requires_grad_(True) for x in xs]
    out = call(ours, txs)
    upstream = np.random.default_rng(5).standard_normal(tuple(out.shape))
    (out * torch.as_tensor(upstream)).sum().backward()
    vs = [tf.Variable(x) for x in xs]
    with tf.GradientTape() as tape:
        kout_ = call(layer, vs)
        loss = tf.reduce_sum(kout_ * upstream)
    grads = tape.gradient(loss, vs + list(layer.trainable_weights))
    assert_close(grads[: len(xs)], [t.grad for t in txs])
    assert_close(grads[len(xs):], ours.keras_gradients())


def test_attention_gradients_match_keras(K, tf, rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = K.layers.Attention(use_scale=True, score_mode="concat", dtype="float64")
    layer.build([q.shape, v.shape])
    randomize(layer, rng, "float64")
    ours = kt.from_keras(layer)
    mask = [masks(rng, 2, 3), masks(rng, 2, 5)]

    def call(m, xs):
        mk = [torch.as_tensor(a) for a in mask] if isinstance(m, Attention) else mask
        return m(xs, mask=mk, use_causal_mask=True)

    _grad_parity(tf, layer, ours, [q, v], call)


def test_multi_head_attention_gradients_match_keras(K, tf, rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6))
    am = rng.random((2, 3, 5)) > 0.3
    layer = K.layers.MultiHeadAttention(2, 3, value_dim=2, dtype="float64")
    layer(q, v)
    randomize(layer, rng, "float64")
    ours = kt.from_keras(layer)

    def call(m, xs):
        return m(*xs, attention_mask=torch.as_tensor(am) if isinstance(m, MultiHeadAttention) else am)

    _grad_parity(tf, layer, ours, [q, v], call)


# ---- models and files ---------------------------------------------------------------------------


def _ids(rng, batch=4, steps=6):
    ids = rng.integers(1, 20, (batch, steps))
    ids[0, :2] = 0  # pre-padding
    ids[1, -3:] = 0  # post-padding
    return ids


def _attention_model(K, kind: str):
    """Embedding(mask_zero) -> LSTM(return_sequences) -> attention -> Dense, three ways."""
    L = K.layers
    inp = K.Input((6,), dtype="int32")
    h = L.LSTM(5, return_sequences=True)(L.Embedding(20, 4, mask_zero=True)(inp))
    if kind == "attention":
        a = L.Attention(use_scale=True)([h, h])
        ctx = L.AdditiveAttention()([h, h])
        x = L.Concatenate()([a, ctx])
        x = L.GlobalAveragePooling1D()(x)
    elif kind == "hand":  # Dense / Dot / Activation('softmax') / Dot / Concatenate
        last = L.LSTM(5)(h)
        score = L.Dot(axes=[2, 1])([L.Dense(5)(h), last])
        weights = L.Activation("softmax")(score)
        context = L.Dot(axes=[1, 1])([h, weights])
        x = L.Concatenate()([context, last])
        x = L.Dense(4, activation="tanh")(x)
    else:  # MultiHeadAttention, self-attention with the implicit masks, plus a causal one
        m1 = L.MultiHeadAttention(2, 3, name="mha")(h, h)
        m2 = L.MultiHeadAttention(2, 2, value_dim=3, name="mha_causal")(h, h, key=h, use_causal_mask=True)
        x = L.GlobalAveragePooling1D()(L.Add()([m1, m2]))
    out = L.Dense(3)(x)
    return K.Model(inp, out)


@pytest.fixture(scope="module", params=["attention", "hand", "mha"])
def attention_files(request, tmp_path_factory, keras3, tfk):
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp(request.param)
    out = {}
    for K, name in ((keras3, "m.keras"), (tfk, "m.h5")):
        model = _attention_model(K, request.param)
        model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in model.get_weights()])
        path = folder / name
        model.save(path)
        out[generation(K)] = (model, path)
    return request.param, out


def test_attention_model_files(attention_files, rng):
    kind, files = attention_files
    ids = _ids(rng)
    for _gen, (model, path) in files.items():
        expected = model.predict(ids, verbose=0)
        loaded = kt.load_model(path)
        assert loaded.count_params() == model.count_params()
        assert_close(expected, loaded(torch.as_tensor(ids)))
        live = kt.from_keras(model)
        assert_close(expected, live(torch.as_tensor(ids)))


def test_attention_weights_by_name_and_read_weights(attention_files, tmp_path, rng):
    kind, files = attention_files
    model, path = files[3]
    weights = tmp_path / "m.weights.h5"
    model.save_weights(weights)
    by_layer = kt.read_weights(weights)
    for layer in model.layers:
        if layer.get_weights():
            assert [a.shape for a in by_layer[layer.name]] == [w.shape for w in layer.get_weights()]
            assert all(np.array_equal(a, w) for a, w in zip(by_layer[layer.name], layer.get_weights()))
    loaded = kt.load_model(path)
    with torch.no_grad():
        for p in loaded.parameters():
            p.zero_()
    kt.load_weights(loaded, weights, by_name=True)
    ids = _ids(rng)
    assert_close(model.predict(ids, verbose=0), loaded(torch.as_tensor(ids)))


def test_attention_models_convert_to_code(attention_files, tmp_path, rng):
    """``keraslike-torch convert`` writes the same graph: the generated module equals the loaded one."""
    import importlib.util

    from keraslike_torch.tools.codegen import save_converted

    kind, files = attention_files
    ids = torch.as_tensor(_ids(rng))
    for gen, (_, path) in files.items():
        loaded = kt.load_model(path)
        code, _ = save_converted(loaded, tmp_path / f"out{gen}", source=path.name)
        spec = importlib.util.spec_from_file_location(f"converted_attn_{kind}_{gen}", code)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        with torch.no_grad():
            torch.testing.assert_close(mod.load()(ids), loaded(ids), rtol=0, atol=0)


def test_implicit_masks_matter(attention_files, rng):
    """The padded models' numbers depend on the masks: a model run without them differs."""
    kind, files = attention_files
    ids = _ids(rng)
    model, path = files[3]
    loaded = kt.load_model(path)
    full = ids.copy()
    full[full == 0] = 1
    assert not np.allclose(model.predict(ids, verbose=0)[:2], model.predict(full, verbose=0)[:2])
    assert_close(model.predict(full, verbose=0), loaded(torch.as_tensor(full)))


def test_save_keras_names_attention_layers(keras3, tmp_path):
    L = keras3.layers
    inp = keras3.Input((4, 3))
    cases = [(L.Attention(name="att"), lambda m: m([inp, inp])),
             (L.AdditiveAttention(name="add_att"), lambda m: m([inp, inp])),
             (L.MultiHeadAttention(2, 3, name="mha"), lambda m: m(inp, inp))]
    for layer, out in cases:
        module = kt.from_keras(keras3.Model(inp, out(layer)))
        for name in ("x.keras", "x.h5"):
            with pytest.raises(Exception, match=f"{type(layer).__name__} module '{layer.name}' has no Keras equiv"):
                kt.save_keras(module, tmp_path / name)
