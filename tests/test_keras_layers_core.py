"""Core layers (Dense, Embedding, Masking, Activation, dropout/noise, merges, reshapes) against
Keras 3 and tf-keras at test time: outputs, masks, parameter counts, weights, configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch import layers as core
from keraslike_torch.converters import ConvertContext, UnsupportedLayerError, convert_layer
from keraslike_torch.layers import KerasLayer

DTYPES = ["float32", "float64"]


def kout(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def assert_close(keras_out, torch_out) -> None:
    report = kt.testing.compare_outputs(kout(keras_out), torch_out)
    assert report.ok, str(report)


def tmask(m):
    return None if m is None else torch.as_tensor(kout(m))


def convert(layer):
    ours = kt.from_keras(layer)
    assert isinstance(ours, KerasLayer)
    return ours


# ---- Dense ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "activation,use_bias,shape",
    [
        ("linear", True, (3, 4)),
        ("relu", False, (2, 5, 4)),
        ("hard_sigmoid", True, (2, 3, 2, 4)),
        ("softmax", True, (2, 5, 4)),
        ("tanh", True, (3, 4)),
    ],
)
def test_dense_parity(K, dtype, activation, use_bias, shape, rng):
    layer = K.layers.Dense(3, activation=activation, use_bias=use_bias, dtype=dtype)
    layer.build((None,) + shape[1:])
    layer.set_weights([rng.standard_normal(w.shape).astype(dtype) for w in layer.get_weights()])
    ours = convert(layer)
    assert ours.weight.dtype == torch_dtype(dtype) and ours.keras_version == generation(K)
    assert ours.count_params() == layer.count_params() == sum(p.numel() for p in ours.parameters())
    for a, b in zip(ours.get_keras_weights(), layer.get_weights(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    kt.testing.assert_keras_parity(layer, ours, x)
    m = rng.random(shape[:2]) > 0.3
    assert np.array_equal(
        ours.compute_mask(torch.as_tensor(x), torch.as_tensor(m)).numpy(),
        kout(layer.compute_mask(x, m)),
    )


def test_dense_gradients_match_keras(K, rng):
    layer = K.layers.Dense(3, activation="tanh", dtype="float64")
    layer.build((None, 4))
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    ours = convert(layer)
    kt.testing.assert_keras_gradient_parity(layer, ours, rng.standard_normal((5, 4)))


def test_dense_lazy_build_and_double(rng):
    d = convert_layer(
        "Dense", {"units": 3, "kernel_initializer": "ones", "bias_initializer": "zeros"}
    )
    assert not d.built and isinstance(d.weight, torch.nn.UninitializedParameter)
    d = d.double()
    y = d(torch.ones(2, 4, dtype=torch.float64))
    assert (
        y.dtype == torch.float64
        and d.input_size == 4
        and torch.equal(y, torch.full((2, 3), 4.0, dtype=torch.float64))
    )
    # weights set on an unbuilt layer fix its input size
    e = convert_layer("Dense", {"units": 2})
    k, b = rng.standard_normal((5, 2)).astype("float32"), rng.standard_normal(2).astype("float32")
    e.set_keras_weights([k, b])
    assert e.input_size == 5 and e.keras_weight_shapes() == [(5, 2), (2,)]
    assert np.array_equal(e.get_keras_weights()[0], k)
    x = rng.standard_normal((3, 5)).astype("float32")
    np.testing.assert_allclose(
        e(torch.from_numpy(x)).detach().numpy(), x @ k + b, rtol=1e-5, atol=1e-6
    )
    # a state dict loads into an unbuilt layer
    f = convert_layer("Dense", {"units": 2})
    f.load_state_dict(e.state_dict())
    assert f.input_size == 5 and torch.equal(f.weight, e.weight)
    with pytest.raises(ValueError, match="expects 5 input features"):
        e(torch.zeros(1, 4))
    # initialization is drawn in Keras's shape: glorot_uniform on (in, units)
    g = core.Dense(8, input_size=3)
    assert float(g.weight.detach().abs().max()) <= (6 / 11) ** 0.5


def test_dense_keras1_config(tfk, rng):
    cfg = {
        "name": "d1",
        "trainable": True,
        "batch_input_shape": [None, 4],
        "input_dtype": "float32",
        "output_dim": 3,
        "init": "glorot_uniform",
        "activation": "hard_sigmoid",
        "W_regularizer": None,
        "b_regularizer": None,
        "activity_regularizer": None,
        "W_constraint": None,
        "b_constraint": None,
        "bias": False,
        "input_dim": 4,
    }
    ours = convert_layer("Dense", cfg, ConvertContext(keras_version=1))
    assert ours.built and ours.keras_weight_shapes() == [(4, 3)] and ours.name == "d1"
    assert ours.activation.name == "hard_sigmoid_keras2"
    ref = tfk.layers.Dense(3, activation="hard_sigmoid", use_bias=False)
    ref.build((None, 4))
    w = [rng.standard_normal((4, 3)).astype("float32")]
    ref.set_weights(w)
    ours.set_keras_weights(w)
    kt.testing.assert_keras_parity(ref, ours, rng.standard_normal((6, 4)).astype("float32") * 3)


# ---- Embedding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_parity_and_mask(K, dtype, mask_zero, rng):
    layer = K.layers.Embedding(7, 3, mask_zero=mask_zero, dtype=dtype)
    layer.build((None, None))
    layer.set_weights([rng.standard_normal((7, 3)).astype(dtype)])
    ours = convert(layer)
    assert ours.embeddings.dtype == torch_dtype(dtype)
    assert ours.count_params() == layer.count_params() == 21
    assert ours.supports_masking == layer.supports_masking == mask_zero
    ids = np.array([[1, 0, 6, 2], [0, 0, 3, 5]], dtype="int32")
    kt.testing.assert_keras_parity(layer, ours, ids)
    km = layer.compute_mask(ids)
    tm = ours.compute_mask(torch.as_tensor(ids))
    assert (km is None) == (tm is None) == (not mask_zero)
    if mask_zero:
        assert np.array_equal(kout(km), tm.numpy())
    # float ids are truncated as Keras casts them; the mask is taken on the ids as given
    fids = np.array([[0.7, 2.9, 0.0, 6.2]], dtype=dtype)
    assert_close(layer(fids), ours(torch.as_tensor(fids)))
    if mask_zero:
        assert np.array_equal(
            kout(layer.compute_mask(fids)), ours.compute_mask(torch.as_tensor(fids)).numpy()
        )


def test_embedding_id_range(K, rng):
    layer = K.layers.Embedding(5, 2)
    layer.build((None, None))
    ours = convert(layer)
    with pytest.raises(ValueError, match="outside"):
        ours(torch.tensor([[5]]))
    neg = np.array([[-1, -5, 2]])
    if generation(K) == 3:  # Keras 3 wraps negative ids
        assert_close(layer(neg), ours(torch.as_tensor(neg)))
    else:
        with pytest.raises(ValueError, match="outside"):
            ours(torch.as_tensor(neg))


def test_embedding_keras1_config_and_row_dropout():
    cfg = {
        "name": "emb",
        "trainable": True,
        "batch_input_shape": [None, 5],
        "input_dtype": "int32",
        "input_dim": 50,
        "output_dim": 4,
        "init": "uniform",
        "input_length": 5,
        "W_constraint": None,
        "W_regularizer": None,
        "activity_regularizer": None,
        "mask_zero": True,
        "dropout": 0.5,
    }
    e = convert_layer("Embedding", cfg, ConvertContext(keras_version=1))
    assert e.mask_zero and e.dropout == 0.5 and e.keras_weight_shapes() == [(50, 4)]
    assert float(e.embeddings.detach().abs().max()) <= 0.05
    ids = torch.arange(50).repeat(3, 1)
    assert torch.equal(e.eval()(ids), e.embeddings[ids])  # inference: no dropout
    y = e.train()(ids)
    rows = (y != 0).any(-1)  # each vocabulary row is dropped or kept as a whole, once per call
    assert torch.equal(rows, rows[:1].expand_as(rows))
    kept = rows[0]
    assert 5 < int(kept.sum()) < 45
    torch.testing.assert_close(y[0, kept], e.embeddings[kept] * 2.0)


# ---- Masking and Activation ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_value", [0.0, -1.5])
def test_masking_parity(K, dtype, mask_value, rng):
    layer = K.layers.Masking(mask_value=mask_value, dtype=dtype)
    ours = convert(layer)
    assert ours.dtype == torch_dtype(dtype) and ours.supports_masking
    x = rng.standard_normal((3, 6, 2)).astype(dtype)
    x[0, 1] = mask_value
    x[1, [0, 4, 5]] = mask_value
    x[2, 2, 0] = mask_value  # only one feature: not masked
    k = kout(layer(x))
    t = ours(torch.as_tensor(x))
    assert_close(k, t)
    # tf-keras multiplies by the mask (-0.0 for a negative mask value), Keras 3 uses where (+0.0)
    assert np.array_equal(np.signbit(k), np.signbit(t.numpy()))
    km = layer.compute_mask(x)
    assert np.array_equal(kout(km), ours.compute_mask(torch.as_tensor(x)).numpy())
    assert kout(km).tolist()[1] == [False, True, True, True, False, False]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "hard_sigmoid", "softmax", "selu", "gelu", "swish"])
def test_activation_parity(K, dtype, activation, rng):
    layer = K.layers.Activation(activation, dtype=dtype)
    ours = convert(layer)
    x = (rng.standard_normal((2, 5, 3)) * 3).astype(dtype)
    assert_close(layer(x), ours(torch.as_tensor(x)))
    m = rng.random((2, 5)) > 0.5
    assert np.array_equal(
        kout(layer.compute_mask(x, m)),
        ours.compute_mask(torch.as_tensor(x), torch.as_tensor(m)).numpy(),
    )
    assert ours.count_params() == layer.count_params() == 0


def test_parameter_free_layers_cast_and_follow_double(K):
    layer = K.layers.Activation("tanh", dtype="float32")
    ours = convert(layer)
    y = ours(torch.ones(2, dtype=torch.float64))  # Keras casts inputs to the layer's dtype
    assert y.dtype == torch.float32
    ours.double()
    assert ours.dtype == torch.float64 and ours(torch.ones(2)).dtype == torch.float64
    assert ours.state_dict() == {}


# ---- dropout and noise ---------------------------------------------------------------------------

NOISE = [
    ("Dropout", dict(rate=0.3)),
    ("SpatialDropout1D", dict(rate=0.4)),
    ("GaussianNoise", dict(stddev=0.5)),
    ("GaussianDropout", dict(rate=0.2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,kw", NOISE)
def test_noise_layers_identity_at_inference(K, dtype, kind, kw, rng):
    layer = getattr(K.layers, kind)(dtype=dtype, **kw)
    ours = convert(layer)
    assert type(ours).__name__ == kind and ours.supports_masking and ours.count_params() == 0
    x = rng.standard_normal((3, 5, 4)).astype(dtype)
    k = kout(layer(x, training=False))
    ours.train()
    t = ours(torch.as_tensor(x), training=False)
    assert np.array_equal(k, x) and np.array_equal(t.numpy(), x)
    assert torch.equal(
        ours.eval()(torch.as_tensor(x)), torch.as_tensor(x)
    )  # training=None: eval mode
    m = rng.random((3, 5)) > 0.5
    assert np.array_equal(
        kout(layer.compute_mask(x, m)),
        ours.compute_mask(torch.as_tensor(x), torch.as_tensor(m)).numpy(),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_training_statistics(K, dtype):
    rate = 0.3
    layer = K.layers.Dropout(rate, dtype=dtype)
    ours = convert(layer).train()
    x = np.ones((200, 500), dtype=dtype)
    y = ours(torch.as_tensor(x)).numpy()  # training from module.train()
    k = kout(layer(x, training=True))
    for out in (y, k):
        dropped = np.mean(out == 0)
        assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / x.size)
    # kept entries are scaled exactly like Keras's (inverted dropout)
    assert np.array_equal(np.unique(y[y != 0]), np.unique(k[k != 0]))
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / (1 - rate)], rtol=1e-6)


def test_dropout_noise_shape_and_rate_one(K):
    layer = K.layers.Dropout(0.5, noise_shape=(None, 1, 6))
    ours = convert(layer)
    assert ours.noise_shape == (None, 1, 6)
    y = ours(torch.ones(40, 7, 6), training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # one mask per (sample, channel)
    assert 0.3 < float((y[:, 0] == 0).float().mean()) < 0.7
    with pytest.raises(ValueError, match="noise_shape"):
        ours(torch.ones(4, 6), training=True)
    one = convert(K.layers.Dropout(1.0))
    x = torch.ones(2, 3)
    y1 = one(x, training=True)
    if generation(K) == 3:  # Keras 3 returns zeros; tf-keras refuses rate=1 at call time
        assert_close(K.layers.Dropout(1.0)(x.numpy(), training=True), y1)
    else:
        assert torch.equal(y1, x)  # Keras 1/2: dropout only for 0 < rate < 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_spatial_dropout1d_training(K, dtype):
    rate = 0.4
    layer = K.layers.SpatialDropout1D(rate, dtype=dtype)
    ours = convert(layer)
    x = np.ones((300, 5, 40), dtype=dtype)
    y = ours(torch.as_tensor(x), training=True).numpy()
    k = kout(layer(x, training=True))
    for out in (y, k):
        assert np.array_equal(out, np.broadcast_to(out[:, :1], out.shape))  # whole channels
        dropped = np.mean(out[:, 0] == 0)
        assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / (300 * 40))
    np.testing.assert_allclose(np.unique(y[y != 0]), np.unique(k[k != 0]), rtol=1e-7)
    # masks differ between samples
    assert not np.array_equal(y[0], y[1])
    with pytest.raises(ValueError, match="3-D"):
        ours(torch.ones(4, 6), training=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_noise_and_dropout_training(K, dtype):
    x = np.full((400, 500), 2.0, dtype=dtype)
    n = 400 * 500
    noise = K.layers.GaussianNoise(0.5, dtype=dtype)
    ours = convert(noise)
    for out in (ours(torch.as_tensor(x), training=True).numpy(), kout(noise(x, training=True))):
        d = out - x
        assert abs(d.mean()) < 4 * 0.5 / np.sqrt(n) and abs(d.std() - 0.5) < 0.01
    rate = 0.2
    drop = K.layers.GaussianDropout(rate, dtype=dtype)
    ours = convert(drop)
    sd = np.sqrt(rate / (1 - rate))
    for out in (ours(torch.as_tensor(x), training=True).numpy(), kout(drop(x, training=True))):
        r = out / x
        assert abs(r.mean() - 1) < 4 * sd / np.sqrt(n) and abs(r.std() - sd) < 0.01
    assert ours(torch.as_tensor(x), training=True).dtype == torch_dtype(dtype)


# ---- merges --------------------------------------------------------------------------------------

MERGES = [
    ("Add", {}, 3),
    ("Subtract", {}, 2),
    ("Multiply", {}, 3),
    ("Average", {}, 3),
    ("Maximum", {}, 3),
    ("Minimum", {}, 2),
    ("Concatenate", {"axis": -1}, 3),
    ("Concatenate", {"axis": 1}, 2),
]


def merge_inputs(kind: str, kw: dict, n: int, dtype: str, rng) -> list[np.ndarray]:
    shapes = [(2, 4, 3)] * n
    if kind == "Concatenate":
        shapes = (
            [(2, 4, 3 + i) for i in range(n)]
            if kw["axis"] == -1
            else [(2, 4 + i, 3) for i in range(n)]
        )
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,kw,n", MERGES)
def test_merge_parity(K, dtype, kind, kw, n, rng):
    layer = getattr(K.layers, kind)(dtype=dtype, **kw)
    ours = convert(layer)
    assert ours.supports_masking and ours.count_params() == 0
    xs = merge_inputs(kind, kw, n, dtype, rng)
    k = layer(xs)
    t = ours([torch.as_tensor(a) for a in xs])
    assert t.dtype == torch_dtype(dtype)
    assert_close(k, t)
    assert_close(k, ours(*[torch.as_tensor(a) for a in xs]))  # tensors as positional arguments


@pytest.mark.parametrize("kind", ["Add", "Multiply", "Maximum"])
def test_merge_broadcasts_lower_rank_inputs(K, kind, rng):
    """Inputs of lower rank get axes inserted at position 1 (Keras's _reshape_required)."""
    a = rng.standard_normal((2, 4, 3)).astype("float32")
    b = rng.standard_normal((2, 3)).astype("float32")
    layer = getattr(K.layers, kind)()
    ours = convert(layer)
    assert_close(layer([a, b]), ours([torch.as_tensor(a), torch.as_tensor(b)]))


MASK_SETS = {
    "all": [True, True, True],
    "some_none": [True, False, True],
    "one": [False, True, False],
    "none": [False, False, False],
}


@pytest.mark.parametrize("masks", list(MASK_SETS))
@pytest.mark.parametrize(
    "kind,kw,n", [m for m in MERGES if m[2] == 3] + [("Concatenate", {"axis": 1}, 3)]
)
def test_merge_compute_mask(K, kind, kw, n, masks, rng):
    """compute_mask against the same generation's Keras (tf-keras ANDs, Keras 3 ORs)."""
    import tensorflow as tf

    layer = getattr(K.layers, kind)(**kw)
    ours = convert(layer)
    xs = merge_inputs(kind, kw, n, "float32", rng)
    on = MASK_SETS[masks]
    ms = [rng.random(x.shape[:2]) > 0.4 if f else None for x, f in zip(xs, on, strict=True)]
    if (
        kind == "Concatenate"
        and kw["axis"] == 1
        and generation(K) == 2
        and masks in ("some_none", "one")
    ):
        # tf-keras cannot build the mask (ones of the input's rank next to a (B, T, 1) mask)
        with pytest.raises(ValueError, match="Concatenate"):
            ours.compute_mask([torch.as_tensor(a) for a in xs], [tmask(m) for m in ms])
        return
    km = layer.compute_mask(
        [tf.constant(a) for a in xs], [None if m is None else tf.constant(m) for m in ms]
    )
    tm = ours.compute_mask([torch.as_tensor(a) for a in xs], [tmask(m) for m in ms])
    assert (km is None) == (tm is None)
    if km is not None:
        assert tm.dtype == torch.bool and np.array_equal(kout(km), tm.numpy())
    assert ours.compute_mask([torch.as_tensor(a) for a in xs], None) is None


@pytest.mark.parametrize("kind", ["Multiply", "Maximum", "Minimum", "Add"])
@pytest.mark.parametrize("masks", ["all", "some_none"])
def test_merge_forward_with_masks(K, kind, masks, rng):
    """Keras 3 Multiply/Maximum/Minimum use the inputs' masks in the computation; tf-keras
    merges (and Keras 3 Add) ignore them."""
    import tensorflow as tf

    layer = getattr(K.layers, kind)()
    ours = convert(layer)
    xs = [rng.standard_normal((3, 5, 2)).astype("float32") for _ in range(3)]
    ms = [rng.random((3, 5)) > 0.5 if on else None for on in MASK_SETS[masks]]
    ms[0][0] = False  # a time step where no input is valid
    if ms[2] is not None:
        ms[2][0] = False
    if generation(K) == 3:
        from keras.src import backend

        txs = [tf.constant(a) for a in xs]
        for t, m in zip(txs, ms, strict=True):
            if m is not None:
                backend.set_keras_mask(t, tf.constant(m))
        k = layer(txs)
    else:
        k = layer(xs)
    t = ours([torch.as_tensor(a) for a in xs], mask=[tmask(m) for m in ms])
    assert_close(k, t)


def test_merge_input_errors():
    add, sub = core.Add(), core.Subtract()
    with pytest.raises(ValueError, match="exactly 2"):
        sub([torch.ones(2, 3)] * 3)
    with pytest.raises(ValueError, match="batch sizes"):
        add([torch.ones(2, 3), torch.ones(3, 3)])
    with pytest.raises(ValueError, match="broadcast"):
        add([torch.ones(2, 3), torch.ones(2, 4)])
    with pytest.raises(ValueError, match="mask should be a list"):
        add.compute_mask([torch.ones(2, 3)] * 2, torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="2 inputs but 1 masks"):
        add.compute_mask([torch.ones(2, 3)] * 2, [None])
    with pytest.raises(ValueError, match="Concatenate"):
        core.Concatenate(axis=1)([torch.ones(2, 3), torch.ones(2, 3, 1)])


# ---- reshaping -----------------------------------------------------------------------------------

RESHAPES = [
    ("RepeatVector", dict(n=3), (2, 4)),
    ("Flatten", {}, (2, 3, 4)),
    ("Flatten", dict(data_format="channels_first"), (2, 3, 4, 5)),
    ("Reshape", dict(target_shape=(-1, 2)), (2, 3, 4)),
    ("Reshape", dict(target_shape=(6, 2)), (2, 3, 4)),
    ("Permute", dict(dims=(2, 1)), (2, 3, 4)),
    ("Permute", dict(dims=(3, 1, 2)), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,kw,shape", RESHAPES)
def test_reshape_layers_parity(K, dtype, kind, kw, shape, rng):
    layer = getattr(K.layers, kind)(dtype=dtype, **kw)
    ours = convert(layer)
    x = rng.standard_normal(shape).astype(dtype)
    k = layer(x)
    t = ours(torch.as_tensor(x))
    assert tuple(t.shape) == tuple(kout(k).shape)
    assert_close(k, t)
    # no masking support in either generation: the mask is dropped
    assert ours.supports_masking is False and layer.supports_masking is False
    assert ours.compute_mask(torch.as_tensor(x), torch.ones(shape[:2], dtype=torch.bool)) is None


def test_flatten_rank1_and_reshape_errors():
    assert core.Flatten()(torch.ones(3)).shape == (3, 1)
    with pytest.raises(ValueError, match="cannot reshape"):
        core.Reshape((5, -1))(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="cannot reshape"):
        core.Reshape((5,))(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="3-D input"):
        core.Permute((2, 1))(torch.ones(2, 3))
    with pytest.raises(ValueError, match="2-D input"):
        core.RepeatVector(2)(torch.ones(2, 3, 4))


# ---- weights ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "wrong_kernel",
        "missing_bias",
        "extra",
        "int",
        "not_list",
    ],
)
def test_bad_weights_change_nothing(bad, rng):
    d = core.Dense(3, input_size=4)
    before = [w.copy() for w in d.get_keras_weights()]
    good = [rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal(3).astype("float32")]
    weights = {
        "wrong_kernel": [good[0].T, good[1]],
        "missing_bias": [good[0]],
        "extra": good + [good[1]],
        "int": [good[0].astype("int64"), good[1]],
        "not_list": good[0],
    }[bad]
    with pytest.raises(ValueError, match=r"\(4, 3\)|list of arrays|floating"):
        d.set_keras_weights(weights)
    for a, b in zip(d.get_keras_weights(), before, strict=True):
        assert np.array_equal(a, b)
    # an unbuilt layer stays unbuilt
    lazy = core.Dense(3)
    with pytest.raises(ValueError):
        lazy.set_keras_weights([good[0]])
    assert not lazy.built
    e = core.Embedding(5, 2)
    snap = e.embeddings.detach().clone()
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        e.set_keras_weights([np.zeros((4, 2), "float32")])
    assert torch.equal(e.embeddings, snap)
    with pytest.raises(ValueError, match=r"\[\]"):
        core.Flatten().set_keras_weights([np.zeros(2, "float32")])


# ---- configs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "class_name,config,match",
    [
        ("Dense", {"units": 3, "foo": 1}, "foo"),
        ("Dense", {"units": 3, "lora_rank": 4}, "lora_rank"),
        ("Dense", {"units": 3, "quantization_config": {"mode": "int8"}}, "quantization_config"),
        ("Dense", {"units": 0}, "units"),
        ("Dense", {"activation": "relu"}, "units"),
        ("Dense", {"units": 3, "activation": "no_such_fn"}, "no_such_fn"),
        ("Embedding", {"output_dim": 3}, "input_dim"),
        ("Embedding", {"input_dim": 3, "output_dim": 2, "lora_rank": 2}, "lora_rank"),
        ("Dropout", {"rate": 1.5}, "rate"),
        ("Dropout", {"rate": 0.1, "noise_shape": [None, 0]}, "noise_shape"),
        ("GaussianNoise", {"stddev": -1}, "stddev"),
        ("Activation", {}, "activation"),
        ("Masking", {"mask_value": "x"}, "mask_value"),
        ("Reshape", {"target_shape": [-1, -1]}, "-1"),
        ("Permute", {"dims": [1, 3]}, "permutation"),
        ("Flatten", {"data_format": "channels_middle"}, "data_format"),
        ("Concatenate", {"axis": 1, "mode": "x"}, "mode"),
        ("Add", {"axis": 1}, "axis"),
        ("Merge", {"mode": "cos"}, "cos"),
        ("Merge", {"mode": "dot", "dot_axes": 1}, "dot"),
        ("Merge", {"mode": "lambda", "mode_type": "function"}, "function"),
    ],
)
def test_bad_configs_raise(class_name, config, match):
    with pytest.raises(UnsupportedLayerError, match=match) as e:
        convert_layer(class_name, {"name": "bad", **config})
    assert class_name in str(e.value) and "'bad'" in str(e.value)


def test_ignored_options_and_keras1_names():
    ignored = {
        "name": "n",
        "trainable": False,
        "seed": 3,
        "batch_input_shape": [None, 4],
        "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.1}},
        "activity_regularizer": None,
        "kernel_constraint": None,
        "dtype": "float64",
    }
    d = convert_layer("Dense", {**ignored, "units": 2})
    assert d.name == "n" and d.weight.dtype == torch.float64
    k1 = ConvertContext(keras_version=1)
    assert convert_layer("Dropout", {"name": "d", "trainable": True, "p": 0.25}, k1).rate == 0.25
    assert convert_layer("SpatialDropout1D", {"p": 0.25}, k1).rate == 0.25
    assert convert_layer("GaussianNoise", {"sigma": 0.3}, k1).stddev == 0.3
    assert convert_layer("GaussianDropout", {"p": 0.3}, k1).rate == 0.3
    cat = convert_layer(
        "Merge",
        {
            "name": "m",
            "mode": "concat",
            "concat_axis": 1,
            "dot_axes": -1,
            "output_shape": None,
            "output_shape_type": "raw",
            "output_mask": None,
            "output_mask_type": "raw",
            "arguments": {},
            "mode_type": "raw",
        },
        k1,
    )
    assert isinstance(cat, core.Concatenate) and cat.axis == 1 and cat.keras_version == 1
    for mode, cls in [
        ("sum", core.Add),
        ("mul", core.Multiply),
        ("ave", core.Average),
        ("max", core.Maximum),
    ]:
        assert type(convert_layer("Merge", {"mode": mode}, k1)) is cls
    s = convert_layer("Merge", {"mode": "sum"}, k1)
    a, b = torch.ones(2, 3, 1), torch.full((2, 3, 1), 2.0)
    m1 = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    assert torch.equal(s([a, b]), a + b)
    assert torch.equal(s.compute_mask([a, b], [m1, None]), m1)
    # Keras 3 dtype policies
    policy = {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float64"},
        "registered_name": None,
    }
    assert convert_layer("Masking", {"mask_value": 0.0, "dtype": policy}).dtype == torch.float64
    assert (
        convert_layer(
            "Embedding", {"input_dim": 3, "output_dim": 2, "dtype": policy}
        ).embeddings.dtype
        == torch.float64
    )


def test_all_core_classes_registered():
    names = set(kt.converters.converter_names())
    for cls in set(core.__all__) - {"KerasLayer", "KerasOp"}:
        assert cls in names, cls
    assert "Merge" in names


def test_get_config_rebuilds_every_layer(rng):
    """The recorded constructor keywords rebuild an equivalent layer (clone / code generation)."""
    layers = [
        convert_layer("Dense", {"units": 3, "activation": "relu", "dtype": "float64"}),
        convert_layer("Embedding", {"input_dim": 5, "output_dim": 2, "mask_zero": True}),
        convert_layer("Masking", {"mask_value": -1.0}),
        convert_layer("Activation", {"activation": "tanh"}),
        convert_layer("Dropout", {"rate": 0.2, "noise_shape": [None, 1, 3]}),
        convert_layer("SpatialDropout1D", {"rate": 0.2}),
        convert_layer("GaussianNoise", {"stddev": 0.2}),
        convert_layer("GaussianDropout", {"rate": 0.2}),
        convert_layer("Concatenate", {"axis": 1}),
        convert_layer("Maximum", {}),
        convert_layer("RepeatVector", {"n": 2}),
        convert_layer("Flatten", {"data_format": "channels_first"}),
        convert_layer("Reshape", {"target_shape": [-1, 2]}),
        convert_layer("Permute", {"dims": [2, 1]}),
    ]
    for layer in layers:
        config = layer.get_config()
        copy = type(layer)(**config)
        assert copy.get_config() == config, type(layer).__name__
        assert copy.extra_repr() == layer.extra_repr()
