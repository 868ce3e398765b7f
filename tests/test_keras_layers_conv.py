"""Conv1D, pooling, BatchNormalization, LayerNormalization and TimeDistributed against real Keras
(Keras 3 and tf-keras, float32 and float64), plus weights, masks, parameter counts and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch import layers as C
from keraslike_torch.converters import ConvertContext, UnsupportedLayerError, convert_layer
from keraslike_torch.layers.convolutional import same_padding

DTYPES = ["float32", "float64"]


# ---- helpers ------------------------------------------------------------------------------------


def keras_call(K, layer, x, **kw):
    tensor = (
        K.ops.convert_to_tensor
        if generation(K) == 3
        else __import__("tensorflow").convert_to_tensor
    )
    if "mask" in kw and kw["mask"] is not None:
        kw["mask"] = tensor(np.asarray(kw["mask"]).astype(bool))
    return np.asarray(layer(tensor(x), **kw))


def torch_call(module, x, **kw):
    if "mask" in kw and kw["mask"] is not None:
        kw["mask"] = torch.as_tensor(np.asarray(kw["mask"]).astype(bool))
    with torch.no_grad():
        return module(torch.as_tensor(x), **kw)


def assert_close(keras_out, torch_out, dtype, rtol=None, atol=None):
    report = kt.testing.compare_outputs(keras_out, torch_out, rtol, atol)
    assert report.ok, str(report)
    out = torch_out[0] if isinstance(torch_out, (list, tuple)) else torch_out
    assert out.dtype == torch_dtype(dtype)


def randomize(layer, rng, dtype, positive=()):
    """Random non-trivial weights; indices in ``positive`` get positive values (variances)."""
    ws = []
    for i, w in enumerate(layer.get_weights()):
        fan = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
        a = rng.standard_normal(w.shape) / np.sqrt(fan)
        if i in positive:
            a = rng.uniform(0.3, 2.0, w.shape)
        ws.append(a.astype(dtype))
    layer.set_weights(ws)
    return ws


def built(layer, shape):
    layer.build(shape)
    return layer


def param_counts_match(layer, module):
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert module.keras_param_counts() == (trainable, layer.count_params() - trainable)
    assert module.count_params() == layer.count_params()


# ---- Conv1D -------------------------------------------------------------------------------------

CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=4, padding="same"),  # even kernel: asymmetric padding
    dict(kernel_size=3, padding="same", strides=2),
    dict(kernel_size=4, padding="same", strides=3),
    dict(kernel_size=5, padding="valid", strides=2, activation="tanh"),
    dict(kernel_size=3, padding="causal", dilation_rate=2),
    dict(kernel_size=2, padding="causal", strides=2),
    dict(kernel_size=3, padding="valid", dilation_rate=3),
    dict(kernel_size=3, padding="same", dilation_rate=2),
    dict(kernel_size=1, activation="relu"),
    dict(kernel_size=3, padding="same", groups=2),
    dict(kernel_size=2, padding="same", groups=3, filters=3, use_bias=False, activation="sigmoid"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv1d_parity(K, dtype, case, rng):
    kw = dict(CONV_CASES[case])
    filters = kw.pop("filters", 6)
    for steps in (9, 10):
        layer = built(K.layers.Conv1D(filters, dtype=dtype, **kw), (None, steps, 6))
        randomize(layer, rng, dtype)
        module = kt.from_keras(layer)
        assert isinstance(module, C.Conv1D)
        x = rng.standard_normal((3, steps, 6)).astype(dtype)
        kt.testing.assert_keras_parity(layer, module, x)
        param_counts_match(layer, module)
        for a, b in zip(module.get_keras_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_conv1d_channels_first_and_extra_batch_dims(K, rng):
    # (Keras 3's TensorFlow backend adds the bias along the last axis when that axis has `filters`
    # entries (ops.add's bias_add shortcut), so the output steps here differ from `filters`.)
    layer = built(
        K.layers.Conv1D(6, 3, padding="same", strides=2, data_format="channels_first"), (None, 4, 9)
    )
    randomize(layer, rng, "float32")
    x = rng.standard_normal((2, 4, 9)).astype("float32")
    ours = kt.from_keras(layer)
    try:
        kt.testing.assert_keras_parity(layer, ours, x)
    except Exception as e:  # TF's CPU Conv2D has no NCHW kernel on some CPUs (seen: AVX2-only EPYC)
        if "UnimplementedError" not in type(e).__name__:
            raise
        # Keras's definition of channels_first, run in Keras: the same weights in a channels_last
        # Conv1D on the transposed input, the output transposed back
        last = built(K.layers.Conv1D(6, 3, padding="same", strides=2), (None, 9, 4))
        last.set_weights(layer.get_weights())
        want = np.transpose(np.asarray(last(np.transpose(x, (0, 2, 1)))), (0, 2, 1))
        got = ours(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # tf-keras accepts extra leading batch dimensions
    module = kt.from_keras(built(K.layers.Conv1D(5, 3), (None, 9, 4)))
    x4 = torch.randn(2, 3, 9, 4)
    y = module(x4)
    assert tuple(y.shape) == (2, 3, 7, 5)
    torch.testing.assert_close(y[1, 2], module(x4[1, 2][None])[0])


def test_conv1d_gradients(K, rng):
    layer = built(
        K.layers.Conv1D(4, 3, padding="same", strides=2, activation="tanh", dtype="float64"),
        (None, 9, 3),
    )
    randomize(layer, rng, "float64")
    kt.testing.assert_keras_gradient_parity(
        layer, kt.from_keras(layer), rng.standard_normal((2, 9, 3))
    )


def test_conv1d_lazy_init_and_weights(rng):
    conv = C.Conv1D(6, 3, groups=2)
    assert conv.count_params() == 0 and conv.get_keras_weights() == []
    conv(torch.zeros(1, 5, 4))
    kernel, bias = conv.get_keras_weights()
    assert kernel.shape == (3, 2, 6) and bias.shape == (6,)
    limit = np.sqrt(6 / (3 * 2 + 3 * 6))  # glorot_uniform, Keras fans include the receptive field
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > limit / 2
    assert not bias.any()
    # set_keras_weights builds an unbuilt layer
    fresh = C.Conv1D(6, 3, groups=2)
    fresh.set_keras_weights([kernel * 2, bias + 1])
    assert fresh.input_size == 4
    np.testing.assert_array_equal(fresh.get_keras_weights()[0], kernel * 2)
    # a state dict builds a lazy layer too
    other = C.Conv1D(6, 3, groups=2)
    other.load_state_dict(fresh.state_dict())
    x = torch.randn(2, 7, 4)
    torch.testing.assert_close(other(x), fresh(x))
    # .double() works, weights follow
    fresh.double()
    assert fresh(x.double()).dtype == torch.float64
    assert fresh.get_keras_weights()[0].dtype == np.float64


def test_keras1_convolution1d_config(tfk, rng):
    cfg = {
        "name": "c1",
        "nb_filter": 4,
        "filter_length": 3,
        "border_mode": "same",
        "subsample_length": 2,
        "activation": "tanh",
        "init": "glorot_uniform",
        "bias": True,
        "input_dim": 5,
        "input_length": None,
        "W_regularizer": None,
        "b_regularizer": None,
        "activity_regularizer": None,
        "W_constraint": None,
        "b_constraint": None,
        "trainable": True,
    }
    module = convert_layer("Convolution1D", cfg, ConvertContext(keras_version=1))
    assert (module.filters, module.kernel_size, module.strides, module.padding) == (4, 3, 2, "same")
    layer = built(
        tfk.layers.Conv1D(4, 3, strides=2, padding="same", activation="tanh"), (None, 9, 5)
    )
    module.set_keras_weights(randomize(layer, rng, "float32"))
    kt.testing.assert_keras_parity(layer, module, rng.standard_normal((2, 9, 5)).astype("float32"))
    atrous = convert_layer(
        "AtrousConvolution1D",
        {**cfg, "border_mode": "valid", "subsample_length": 1, "atrous_rate": 2},
        ConvertContext(keras_version=1),
    )
    assert atrous.dilation_rate == 2


# ---- pooling ------------------------------------------------------------------------------------

POOL_CASES = [  # pool_size, strides, padding, steps
    (2, None, "valid", 9),
    (2, None, "same", 9),
    (3, None, "same", 10),
    (3, 1, "same", 8),
    (4, 1, "same", 7),
    (3, 2, "valid", 10),
    (4, 3, "same", 10),
    (2, 3, "same", 8),
    (1, 2, "valid", 7),
    (5, 2, "same", 9),
    (4, 4, "valid", 4),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["MaxPooling1D", "AveragePooling1D"])
def test_pooling_parity(K, kind, dtype, rng):
    for pool, strides, padding, steps in POOL_CASES:
        layer = getattr(K.layers, kind)(pool, strides=strides, padding=padding, dtype=dtype)
        module = kt.from_keras(layer)
        assert isinstance(module, getattr(C, kind))
        x = rng.standard_normal((2, steps, 3)).astype(dtype)
        assert_close(keras_call(K, layer, x), torch_call(module, x), dtype)
        assert (
            module.compute_mask(torch.as_tensor(x), torch.ones(2, steps, dtype=torch.bool)) is None
        )
        assert module.count_params() == layer.count_params() == 0


def test_pooling_channels_first(keras3, rng):
    x = rng.standard_normal((2, 3, 10)).astype("float32")
    for kind in ("MaxPooling1D", "AveragePooling1D"):
        layer = getattr(keras3.layers, kind)(
            3, strides=2, padding="same", data_format="channels_first"
        )
        assert_close(keras_call(keras3, layer, x), torch_call(kt.from_keras(layer), x), "float32")


def test_average_pooling_same_divides_by_real_elements():
    x = torch.arange(1.0, 6.0).reshape(1, 5, 1)
    y = C.AveragePooling1D(4, strides=1, padding="same")(x).flatten().tolist()
    # left pad 1, right pad 2: windows [_,1,2,3] [1..4] [2..5] [3,4,5,_] [4,5,_,_]
    assert y == [2.0, 2.5, 3.5, 4.0, 4.5]
    assert same_padding(5, 4, 1) == (1, 2)


def test_keras1_pooling_config():
    m = convert_layer(
        "MaxPooling1D",
        {"name": "p", "pool_length": 3, "stride": 2, "border_mode": "same", "trainable": True},
        ConvertContext(keras_version=1),
    )
    assert (m.pool_size, m.strides, m.padding) == (3, 2, "same")
    a = convert_layer(
        "AveragePooling1D",
        {"pool_length": 2, "stride": None, "border_mode": "valid"},
        ConvertContext(keras_version=1),
    )
    assert (a.pool_size, a.strides) == (2, 2)


# ---- global pooling -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
def test_global_pooling_parity(K, kind, dtype, rng):
    for keepdims in (False, True):
        layer = getattr(K.layers, kind)(keepdims=keepdims, dtype=dtype)
        module = kt.from_keras(layer)
        x = rng.standard_normal((3, 7, 4)).astype(dtype)
        assert_close(keras_call(K, layer, x), torch_call(module, x), dtype)
    layer = getattr(K.layers, kind)(data_format="channels_first", dtype=dtype)
    assert_close(keras_call(K, layer, x), torch_call(kt.from_keras(layer), x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_average_pooling_mask(K, dtype, rng):
    x = rng.standard_normal((4, 6, 3)).astype(dtype)
    mask = np.ones((4, 6), bool)
    mask[0, 4:] = False
    mask[1, :2] = False
    mask[2, [1, 3]] = False
    mask[3] = False  # no valid step: 0 / 0 in both Keras generations
    for keepdims in (False, True):
        layer = K.layers.GlobalAveragePooling1D(keepdims=keepdims, dtype=dtype)
        module = kt.from_keras(layer)
        assert module.supports_masking
        k = keras_call(K, layer, x, mask=mask)
        assert np.isnan(k[3]).all()
        assert_close(k, torch_call(module, x, mask=mask), dtype)
        assert module.compute_mask(torch.as_tensor(x), torch.as_tensor(mask)) is None
    # channels_first: the mask is (batch, steps) still
    layer = K.layers.GlobalAveragePooling1D(data_format="channels_first", dtype=dtype)
    xt = np.ascontiguousarray(x.transpose(0, 2, 1))
    assert_close(
        keras_call(K, layer, xt, mask=mask), torch_call(kt.from_keras(layer), xt, mask=mask), dtype
    )


def test_global_average_pooling_masked_inf_quirk(K):
    """tf-keras multiplies by the mask (inf * 0 = nan leaks), Keras 3 selects with where."""
    x = np.array([[[1.0], [3.0], [np.inf]]], "float32")
    mask = np.array([[True, True, False]])
    layer = K.layers.GlobalAveragePooling1D()
    k = keras_call(K, layer, x, mask=mask)
    assert np.isnan(k).all() if generation(K) == 2 else k.tolist() == [[2.0]]
    assert_close(k, torch_call(kt.from_keras(layer), x, mask=mask), "float32")


# ---- BatchNormalization -------------------------------------------------------------------------

BN_CASES = [  # input shape, kwargs
    ((4, 6, 3), {}),
    ((4, 6, 3), dict(center=False)),
    ((4, 6, 3), dict(scale=False, epsilon=1e-5, momentum=0.9)),
    ((4, 6, 3), dict(center=False, scale=False)),
    ((4, 3, 6), dict(axis=1, momentum=0.5)),
    ((5, 4), dict(momentum=0.8)),
    ((3, 4, 2, 3), dict(axis=-1, epsilon=0.01)),  # tf-keras: fused kernel
    ((3, 4, 2, 5), dict(axis=1, momentum=0.9)),  # tf-keras: fused kernel, channels first
    ((3, 4, 2, 3), dict(axis=2)),  # tf-keras: not fused
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(BN_CASES)))
def test_batch_normalization_parity(K, dtype, case, rng):
    shape, kw = BN_CASES[case]
    layer = built(K.layers.BatchNormalization(dtype=dtype, **kw), (None, *shape[1:]))
    n = len(layer.get_weights())
    ws = randomize(layer, rng, dtype, positive=(n - 1,))
    ws[n - 2] = (ws[n - 2] + 0.5).astype(dtype)  # moving mean away from 0
    layer.set_weights(ws)
    module = kt.from_keras(layer)
    param_counts_match(layer, module)
    assert [name for name, _ in module.named_buffers()] == ["moving_mean", "moving_variance"]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    # inference: moving statistics
    assert_close(keras_call(K, layer, x), torch_call(module, x, training=False), dtype)
    for _ in range(2):  # training: batch statistics, then the moving statistics Keras updated
        x = (rng.standard_normal(shape) * 3 - 1).astype(dtype)
        k = keras_call(K, layer, x, training=True)
        t = torch_call(module, x, training=True)
        assert_close(k, t, dtype)
        assert_close(
            layer.get_weights(), [torch.as_tensor(w) for w in module.get_keras_weights()], dtype
        )
    assert_close(
        keras_call(K, layer, x, training=False), torch_call(module, x, training=False), dtype
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_normalization_masked_training(K, dtype, rng):
    layer = built(K.layers.BatchNormalization(momentum=0.7, dtype=dtype), (None, 6, 3))
    randomize(layer, rng, dtype, positive=(3,))
    module = kt.from_keras(layer)
    x = (rng.standard_normal((4, 6, 3)) * 2 + 1).astype(dtype)
    mask = rng.random((4, 6)) > 0.4
    mask[0] = False
    k = keras_call(K, layer, x, mask=mask, training=True)
    t = torch_call(module, x, mask=mask, training=True)
    assert_close(k, t, dtype)
    assert_close(
        layer.get_weights(), [torch.as_tensor(w) for w in module.get_keras_weights()], dtype
    )
    assert module.compute_mask(torch.as_tensor(x), torch.as_tensor(mask)) is not None
    # inference ignores the mask
    assert_close(
        keras_call(K, layer, x, mask=mask), torch_call(module, x, mask=mask, training=False), dtype
    )


def test_batch_normalization_masked_4d(K, rng):
    """tf-keras runs 4-D inputs on its fused kernel, which ignores the mask (with a warning) and
    updates the moving variance with the Bessel-corrected batch variance; Keras 3 uses the mask."""
    layer = built(K.layers.BatchNormalization(momentum=0.6), (None, 4, 2, 3))
    randomize(layer, rng, "float32", positive=(3,))
    module, unmasked = kt.from_keras(layer), kt.from_keras(layer)
    x = (rng.standard_normal((3, 4, 2, 3)) * 2 + 1).astype("float32")
    mask = rng.random((3, 4, 2)) > 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = keras_call(K, layer, x, mask=mask, training=True)
    assert_close(k, torch_call(module, x, mask=mask, training=True), "float32")
    assert_close(
        layer.get_weights(), [torch.as_tensor(w) for w in module.get_keras_weights()], "float32"
    )
    torch_call(unmasked, x, training=True)
    same = np.allclose(unmasked.get_keras_weights()[2], module.get_keras_weights()[2])
    assert same == (generation(K) == 2)


def test_batch_normalization_synchronized(keras3, rng):
    layer = built(keras3.layers.BatchNormalization(synchronized=True, momentum=0.6), (None, 5, 3))
    randomize(layer, rng, "float32", positive=(3,))
    module = kt.from_keras(layer)
    assert module.synchronized
    x = (rng.standard_normal((4, 5, 3)) + 2).astype("float32")
    assert_close(
        keras_call(keras3, layer, x, training=True), torch_call(module, x, training=True), "float32"
    )
    assert_close(
        layer.get_weights(), [torch.as_tensor(w) for w in module.get_keras_weights()], "float32"
    )


def test_batch_normalization_frozen_runs_inference(K, rng):
    """A non-trainable BatchNormalization uses its moving statistics even with training=True."""
    layer = built(K.layers.BatchNormalization(), (None, 5, 3))
    randomize(layer, rng, "float32", positive=(3,))
    layer.trainable = False
    module = kt.from_keras(layer)
    param_counts_match(layer, module)
    before = module.get_keras_weights()
    x = rng.standard_normal((4, 5, 3)).astype("float32")
    assert_close(
        keras_call(K, layer, x, training=True), torch_call(module, x, training=True), "float32"
    )
    for a, b in zip(before, module.get_keras_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_normalization_gradients(K, rng):
    layer = built(K.layers.BatchNormalization(dtype="float64"), (None, 5, 3))
    randomize(layer, rng, "float64", positive=(3,))
    kt.testing.assert_keras_gradient_parity(
        layer, kt.from_keras(layer), rng.standard_normal((2, 5, 3))
    )


def test_batch_normalization_torch_training_mode_and_lazy():
    bn = C.BatchNormalization(momentum=0.5)
    x = torch.randn(8, 4, 3) * 2 + 3
    bn.train()
    y = bn(x)
    mean, var = x.mean((0, 1)), x.var((0, 1), unbiased=False)
    torch.testing.assert_close(bn.moving_mean, 0.5 * mean)
    torch.testing.assert_close(bn.moving_variance, 0.5 + 0.5 * var)
    torch.testing.assert_close(y.mean((0, 1)), torch.zeros(3), atol=1e-5, rtol=0)
    bn.eval()
    before = bn.moving_mean.clone()
    bn(x)
    torch.testing.assert_close(bn.moving_mean, before)
    other = C.BatchNormalization()
    other.load_state_dict(bn.state_dict())
    torch.testing.assert_close(other.moving_variance, bn.moving_variance)
    assert other.double()(x.double()).dtype == torch.float64


def test_keras1_batch_normalization_config():
    ctx = ConvertContext(keras_version=1)
    bn = convert_layer(
        "BatchNormalization",
        {
            "name": "bn",
            "epsilon": 1e-3,
            "mode": 0,
            "axis": -1,
            "momentum": 0.9,
            "beta_init": "zero",
            "gamma_init": "one",
            "gamma_regularizer": None,
            "beta_regularizer": None,
        },
        ctx,
    )
    assert (bn.momentum, bn.center, bn.scale) == (0.9, True, True)
    with pytest.raises(UnsupportedLayerError, match="'bn'.*mode=2"):
        convert_layer("BatchNormalization", {"name": "bn", "mode": 2}, ctx)


# ---- LayerNormalization -------------------------------------------------------------------------

LN_CASES = [  # input shape, kwargs
    ((3, 5, 4), {}),
    ((3, 5, 4), dict(epsilon=1e-6)),  # below tf-keras's fused threshold
    ((3, 5, 4), dict(center=False)),
    ((3, 5, 4), dict(scale=False, epsilon=0.01)),
    ((3, 5, 4), dict(center=False, scale=False)),
    ((3, 5, 4), dict(axis=1)),
    ((3, 5, 4), dict(axis=[1, 2])),
    ((3, 5, 4), dict(axis=[2, 1])),  # tf-keras keeps this order (and reshapes), Keras 3 sorts
    ((2, 3, 4, 5), dict(axis=[-2, -1], epsilon=1e-5)),
    ((4, 6), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(LN_CASES)))
def test_layer_normalization_parity(K, dtype, case, rng):
    shape, kw = LN_CASES[case]
    layer = built(K.layers.LayerNormalization(dtype=dtype, **kw), (None, *shape[1:]))
    if layer.get_weights():
        randomize(layer, rng, dtype)
    module = kt.from_keras(layer)
    param_counts_match(layer, module)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    if module.get_keras_weights():
        kt.testing.assert_keras_parity(layer, module, x)
    else:
        assert_close(keras_call(K, layer, x), torch_call(module, x), dtype)
    assert (
        module.compute_mask(torch.as_tensor(x), torch.ones(shape[:2], dtype=torch.bool)) is not None
    )


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
def test_layer_normalization_rms_scaling(keras3, rng):
    layer = built(keras3.layers.LayerNormalization(rms_scaling=True, dtype="float64"), (None, 5, 4))
    assert len(layer.get_weights()) == 1
    randomize(layer, rng, "float64")
    module = kt.from_keras(layer)
    assert module.rms_scaling and module.beta is None
    kt.testing.assert_keras_parity(layer, module, rng.standard_normal((2, 5, 4)) + 1)


def test_layer_normalization_gradients(K, rng):
    layer = built(K.layers.LayerNormalization(dtype="float64"), (None, 5, 4))
    randomize(layer, rng, "float64")
    kt.testing.assert_keras_gradient_parity(
        layer, kt.from_keras(layer), rng.standard_normal((2, 5, 4))
    )


# ---- TimeDistributed ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_time_distributed_conv1d(K, dtype, rng):
    layer = K.layers.TimeDistributed(
        K.layers.Conv1D(4, 3, padding="same", strides=2, activation="relu", dtype=dtype),
        dtype=dtype,
    )
    layer.build((None, 5, 9, 3))
    randomize(layer, rng, dtype)
    module = kt.from_keras(layer)
    assert isinstance(module, C.TimeDistributed) and isinstance(module.layer, C.Conv1D)
    param_counts_match(layer, module)
    kt.testing.assert_keras_parity(layer, module, rng.standard_normal((2, 5, 9, 3)).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_time_distributed_dense(K, dtype, rng):
    layer = K.layers.TimeDistributed(K.layers.Dense(3, activation="tanh", dtype=dtype), dtype=dtype)
    layer.build((None, 5, 4))
    randomize(layer, rng, dtype)
    module = kt.from_keras(layer)
    param_counts_match(layer, module)
    x = rng.standard_normal((2, 5, 4)).astype(dtype)
    kt.testing.assert_keras_parity(layer, module, x)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    if generation(K) == 2:  # tf-keras: the Dense's mask for the folded input, unfolded
        expected = np.asarray(layer.compute_mask(__import__("tensorflow").constant(x), mask))
        np.testing.assert_array_equal(
            module.compute_mask(torch.as_tensor(x), torch.as_tensor(mask)).numpy(), expected
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_time_distributed_batch_normalization_training(K, dtype, rng):
    """tf-keras folds time into the batch (one set of statistics, one update); Keras 3 calls the
    layer once per step (statistics per step, one moving-average update per step)."""
    layer = K.layers.TimeDistributed(
        K.layers.BatchNormalization(momentum=0.8, dtype=dtype), dtype=dtype
    )
    layer.build((None, 4, 3))
    randomize(layer, rng, dtype, positive=(3,))
    module = kt.from_keras(layer)
    param_counts_match(layer, module)
    x = (rng.standard_normal((5, 4, 3)) * 2 + 1).astype(dtype)
    kt.testing.assert_keras_parity(layer, module, x)
    assert_close(
        keras_call(K, layer, x, training=True), torch_call(module, x, training=True), dtype
    )
    assert_close(
        layer.get_weights(), [torch.as_tensor(w) for w in module.get_keras_weights()], dtype
    )
    mask = rng.random((5, 4)) > 0.3
    assert_close(
        keras_call(K, layer, x, mask=mask, training=True),
        torch_call(module, x, mask=mask, training=True),
        dtype,
    )
    assert_close(
        layer.get_weights(), [torch.as_tensor(w) for w in module.get_keras_weights()], dtype
    )


def test_time_distributed_other_inner_layers(K, rng):
    for inner, shape in [
        (K.layers.LayerNormalization(), (2, 4, 5, 3)),
        (K.layers.GlobalAveragePooling1D(), (2, 4, 5, 3)),
        (K.layers.MaxPooling1D(2, padding="same"), (2, 4, 5, 3)),
    ]:
        layer = K.layers.TimeDistributed(inner)
        layer.build((None, *shape[1:]))
        if layer.get_weights():
            randomize(layer, rng, "float32")
        module = kt.from_keras(layer)
        x = rng.standard_normal(shape).astype("float32")
        assert_close(keras_call(K, layer, x), torch_call(module, x), "float32")


def test_time_distributed_compute_mask(tfk):
    x = torch.randn(2, 3, 4, 5)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    td = C.TimeDistributed(C.LayerNormalization())
    torch.testing.assert_close(td.compute_mask(x, mask), mask)
    td = C.TimeDistributed(C.GlobalAveragePooling1D())
    torch.testing.assert_close(td.compute_mask(x, mask), mask)  # inner None -> the input mask
    assert td.compute_mask(x, None) is None
    # a 3-D mask is reduced with any() over its trailing axes when the inner layer gives none
    m3 = torch.zeros(2, 3, 4, dtype=torch.bool)
    m3[0, 1, 2] = True
    assert td.compute_mask(x, m3).tolist() == [[False, True, False], [False, False, False]]


def test_time_distributed_configs():
    inner = {"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": 3}}
    for ctx_version, spec in [
        (2, inner),
        (
            3,
            {
                "module": "keras.layers",
                "registered_name": None,
                "build_config": {"input_shape": [None, 7, 3]},
                **inner,
            },
        ),
    ]:
        td = convert_layer(
            "TimeDistributed",
            {"name": "td", "trainable": True, "layer": spec},
            ConvertContext(keras_version=ctx_version),
        )
        assert isinstance(td.layer, C.Conv1D) and td.keras_version == ctx_version
        assert tuple(td(torch.zeros(2, 4, 7, 3)).shape) == (2, 4, 5, 2)
    with pytest.raises(UnsupportedLayerError, match="'td' has no wrapped layer"):
        convert_layer("TimeDistributed", {"name": "td"})


# ---- weights, errors, unsupported options -------------------------------------------------------


def test_bad_weights_change_nothing(rng):
    conv = C.Conv1D(4, 3, input_size=2)
    bn = C.BatchNormalization(num_features=3, center=False)
    ln = C.LayerNormalization(axis=[1, 2], param_shape=(5, 4))
    cases = [
        (
            conv,
            [np.zeros((3, 2, 4), "float32")],
            r"expects 2 weights with shapes \[\(3, 2, 4\), \(4,\)\]",
        ),
        (
            conv,
            [np.zeros((4, 2, 3), "float32"), np.zeros(4, "float32")],
            r"\[\(3, 2, 4\), \(4,\)\]",
        ),
        (
            bn,
            [np.ones(3, "float32")] * 4,
            r"expects 3 weights with shapes \[\(3,\), \(3,\), \(3,\)\]",
        ),
        (ln, [np.ones((4, 5), "float32")] * 2, r"\[\(5, 4\), \(5, 4\)\]"),
        (conv, [np.zeros((3, 2, 4), "int32"), np.zeros(4, "float32")], "floating-point"),
        (conv, np.zeros((3, 2, 4)), "list of arrays"),
    ]
    for module, weights, message in cases:
        before = module.get_keras_weights()
        with pytest.raises(ValueError, match=message):
            module.set_keras_weights(weights)
        for a, b in zip(before, module.get_keras_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    lazy = C.Conv1D(4, 3)
    with pytest.raises(ValueError, match=r"\(3, 2, 4\), \(4,\)"):
        lazy.set_keras_weights([np.zeros((3, 2, 4), "float32"), np.zeros(5, "float32")])
    assert not lazy.built
    lazy_bn = C.BatchNormalization()
    with pytest.raises(ValueError, match="expects 4 weights"):
        lazy_bn.set_keras_weights([np.ones(3, "float32")] * 3)
    assert not lazy_bn.built


def test_bad_inputs():
    conv = C.Conv1D(4, 3, input_size=2)
    with pytest.raises(ValueError, match="expects 2 input channels, got 3"):
        conv(torch.zeros(1, 5, 3))
    # Keras casts floating-point inputs to the layer's dtype
    assert conv(torch.zeros(1, 5, 2, dtype=torch.float64)).dtype == torch.float32
    assert C.MaxPooling1D(dtype=torch.float64)(torch.zeros(1, 4, 2)).dtype == torch.float64
    with pytest.raises(TypeError, match="floating-point input"):
        conv(torch.zeros(1, 5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="too short"):
        conv(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="3-D input"):
        C.MaxPooling1D()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="too short"):
        C.AveragePooling1D(4)(torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match=r"mask shape \(2, 4\) does not match"):
        C.GlobalAveragePooling1D()(torch.zeros(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="one dimension less"):
        C.BatchNormalization()(
            torch.zeros(2, 5, 3), mask=torch.ones(2, dtype=torch.bool), training=True
        )
    with pytest.raises(ValueError, match="divisible by groups"):
        C.Conv1D(4, 3, groups=3)
    with pytest.raises(ValueError, match="strides > 1 is not supported with dilation_rate > 1"):
        C.Conv1D(4, 3, strides=2, dilation_rate=2)


def test_unsupported_options(keras3, tfk):
    def conv_config(**kw):
        return {**keras3.layers.Conv1D(2, 3).get_config(), **kw}

    with pytest.raises(UnsupportedLayerError, match=r"'c'.*lora_rank=4"):
        convert_layer("Conv1D", conv_config(name="c", lora_rank=4))
    with pytest.raises(
        UnsupportedLayerError, match=r"'c'.*unsupported config option\(s\) \['foo'\]"
    ):
        convert_layer("Conv1D", conv_config(name="c", foo=1))
    with pytest.raises(UnsupportedLayerError, match=r"padding='full'"):
        convert_layer(
            "Convolution1D",
            {"name": "c", "nb_filter": 2, "filter_length": 3, "border_mode": "full"},
            ConvertContext(keras_version=1),
        )
    with pytest.raises(UnsupportedLayerError, match=r"padding='causal'"):
        convert_layer("MaxPooling1D", {"name": "p", "pool_size": 2, "padding": "causal"})
    bn = keras3.layers.BatchNormalization(renorm=True).get_config()
    with pytest.raises(UnsupportedLayerError, match=r"renorm=True"):
        convert_layer("BatchNormalization", bn)
    bn = tfk.layers.BatchNormalization(virtual_batch_size=2, name="vb").get_config()
    with pytest.raises(UnsupportedLayerError, match=r"'vb'.*virtual_batch_size=2"):
        convert_layer("BatchNormalization", bn, ConvertContext(keras_version=2))
    with pytest.raises(UnsupportedLayerError, match=r"axis=\[1, 2\]"):
        convert_layer(
            "BatchNormalization", {"name": "b", "axis": [1, 2]}, ConvertContext(keras_version=2)
        )
    with pytest.raises(
        UnsupportedLayerError, match="GlobalAveragePooling1D.*'g'.*data_format='channels_middle'"
    ):
        convert_layer("GlobalAveragePooling1D", {"name": "g", "data_format": "channels_middle"})
    # options that do not change the computation are accepted
    cfg = conv_config(
        name="c",
        kernel_regularizer={"class_name": "L2", "config": {"l2": 0.1}},
        bias_constraint={"class_name": "NonNeg", "config": {}},
        trainable=False,
        batch_input_shape=[None, 5, 3],
    )
    assert isinstance(convert_layer("Conv1D", cfg), C.Conv1D)


def test_get_config_rebuilds_layers(rng):
    """``get_config()`` plus ``built_config()`` rebuild a layer (what code generation relies on)."""
    x = torch.randn(3, 8, 4, dtype=torch.float64)
    layers = [
        C.Conv1D(6, 3, padding="same", strides=2, groups=2, activation="relu", dtype=torch.float64),
        C.MaxPooling1D(3, strides=2, padding="same", dtype=torch.float64),
        C.AveragePooling1D(3, padding="same", dtype=torch.float64),
        C.GlobalAveragePooling1D(keepdims=True, dtype=torch.float64),
        C.BatchNormalization(momentum=0.5, center=False, dtype=torch.float64),
        C.LayerNormalization(axis=[1, 2], epsilon=1e-5, dtype=torch.float64),
    ]
    for layer in layers:
        layer.eval()
        y = layer(x)
        clone = type(layer)(**{**layer.get_config(), **layer.built_config()}).eval()
        clone.load_state_dict(layer.state_dict())
        torch.testing.assert_close(clone(x), y)
