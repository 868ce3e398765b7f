"""Pooling 2D/3D, global pooling 2D/3D, UpSampling1D/2D, ZeroPadding1D/2D and Cropping1D/2D against
real Keras (Keras 3 and tf-keras, float32 and float64): layers on their own, inside TimeDistributed
(a CNN-LSTM), masks, files of both formats (.keras by Keras 3, .h5 by tf-keras), from_keras, the
Keras 1 config names and the errors."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch import layers as C
from keraslike_torch.converters import ConvertContext, UnsupportedLayerError, convert_layer

DTYPES = ["float32", "float64"]


# ---- helpers ------------------------------------------------------------------------------------


def keras_out(K, layer, x, mask=None):
    """The Keras layer's output on ``x``; a channels_first layer TF's CPU has no kernel for (seen
    on AVX2-only CPUs for NCHW ops) is replaced by Keras's definition of channels_first: the same
    layer channels_last on the transposed input, transposed back."""
    kw = {} if mask is None else {"mask": np.asarray(mask, bool)}
    try:
        return np.asarray(layer(x, **kw))
    except Exception as e:
        if "Unimplemented" not in type(e).__name__:
            raise
    cfg = {**layer.get_config(), "data_format": "channels_last"}
    last = type(layer).from_config(cfg)
    perm = (0, *range(2, x.ndim), 1)
    back = (0, x.ndim - 1, *range(1, x.ndim - 1))
    y = np.asarray(last(np.transpose(x, perm)))
    return np.transpose(y, back) if y.ndim == x.ndim else y


def ours(module, x, mask=None):
    with torch.no_grad():
        return module(torch.as_tensor(x), mask=None if mask is None else torch.as_tensor(mask))


def check(K, layer, x, cls, exact=False):
    """from_keras of ``layer`` is a ``cls`` and gives Keras's numbers in Keras's dtype."""
    module = kt.from_keras(layer)
    assert type(module) is cls
    want, got = keras_out(K, layer, x), ours(module, x)
    assert got.dtype == torch_dtype(str(x.dtype))
    assert tuple(got.shape) == want.shape
    if exact:
        np.testing.assert_array_equal(got.numpy(), want.astype(x.dtype))
    else:
        report = kt.testing.compare_outputs(want.astype(x.dtype), got)
        assert report.ok, str(report)
    assert module.count_params() == layer.count_params() == 0
    assert module.compute_mask(torch.as_tensor(x), torch.ones(x.shape[:2], dtype=torch.bool)) is None
    return module


# ---- window pooling 2D / 3D ---------------------------------------------------------------------

POOL_CASES = {  # rank: [(pool_size, strides, padding, spatial shape)]
    2: [
        (2, None, "valid", (6, 7)),
        ((2, 3), None, "same", (7, 7)),
        (3, 1, "same", (5, 6)),  # padding on both sides
        ((4, 2), (3, 1), "same", (9, 5)),  # asymmetric: the extra pad row at the bottom
        ((3, 2), (2, 3), "valid", (8, 8)),
    ],
    3: [
        (2, None, "valid", (4, 5, 4)),
        ((1, 2, 3), None, "same", (3, 5, 7)),
        (3, (2, 1, 2), "same", (5, 4, 5)),
    ],
}
POOL_KINDS = {("Max", 2): C.MaxPooling2D, ("Average", 2): C.AveragePooling2D,
              ("Max", 3): C.MaxPooling3D, ("Average", 3): C.AveragePooling3D}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("op", ["Max", "Average"])
def test_pooling_parity(K, op, rank, dtype, rng):
    for pool, strides, padding, shape in POOL_CASES[rank]:
        layer = getattr(K.layers, f"{op}Pooling{rank}D")(pool, strides, padding, dtype=dtype)
        x = rng.standard_normal((2, *shape, 3)).astype(dtype)
        if rank == 3 and dtype == "float64":
            # TensorFlow's MaxPool3D/AvgPool3D have no double kernel: Keras cannot run this layer.
            # Ours computes in float64; the reference is Keras in float32 on the same values.
            with pytest.raises(Exception, match="(?i)double"):
                layer(x)
            x = x.astype("float32").astype("float64")
            layer32 = type(layer).from_config({**layer.get_config(), "dtype": "float32"})
            want = keras_out(K, layer32, x.astype("float32"))
            got = ours(kt.from_keras(layer), x)
            assert got.dtype == torch.float64
            report = kt.testing.compare_outputs(want, got.float())
            assert report.ok, str(report)
            if op == "Max":
                np.testing.assert_array_equal(got.numpy(), want)
            continue
        check(K, layer, x, POOL_KINDS[op, rank], exact=op == "Max")


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("op", ["Max", "Average"])
def test_pooling_channels_first(K, op, rank, rng):
    pool, strides, padding, shape = POOL_CASES[rank][-2]
    layer = getattr(K.layers, f"{op}Pooling{rank}D")(
        pool, strides, padding, data_format="channels_first"
    )
    x = rng.standard_normal((2, 3, *shape)).astype("float32")
    module = check(K, layer, x, POOL_KINDS[op, rank])
    assert module.data_format == "channels_first"


def test_average_pooling_same_counts_only_real_elements(K):
    """TensorFlow's 'same' average divides each window by its real elements (both generations)."""
    x = np.ones((1, 3, 3, 1), "float32")
    layer = K.layers.AveragePooling2D(2, strides=1, padding="same")
    np.testing.assert_array_equal(keras_out(K, layer, x), np.ones((1, 3, 3, 1)))
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    # windows at the bottom-right corner hold one real element: [[0,1],[3,4]] ... [[8]]
    y = ours(kt.from_keras(layer), x)[0, ..., 0]
    assert y.tolist() == [[2.0, 3.0, 3.5], [5.0, 6.0, 6.5], [6.5, 7.5, 8.0]]


# ---- global pooling 2D / 3D ---------------------------------------------------------------------

GLOBAL_KINDS = {("Max", 2): C.GlobalMaxPooling2D, ("Average", 2): C.GlobalAveragePooling2D,
                ("Max", 3): C.GlobalMaxPooling3D, ("Average", 3): C.GlobalAveragePooling3D}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("op", ["Max", "Average"])
def test_global_pooling_parity(K, op, rank, dtype, rng):
    cls = getattr(K.layers, f"Global{op}Pooling{rank}D")
    x = rng.standard_normal((3, *range(4, 4 + rank), 2)).astype(dtype)
    for kw in ({}, {"keepdims": True}, {"data_format": "channels_first"},
               {"data_format": "channels_first", "keepdims": True}):
        module = check(K, cls(dtype=dtype, **kw), x, GLOBAL_KINDS[op, rank], exact=op == "Max")
        assert not module.supports_masking  # only GlobalAveragePooling1D takes a mask


# ---- UpSampling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_up_sampling1d_parity(K, dtype, rng):
    x = rng.standard_normal((2, 5, 3)).astype(dtype)
    for size in (1, 2, 3):
        check(K, K.layers.UpSampling1D(size, dtype=dtype), x, C.UpSampling1D, exact=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_up_sampling2d_parity(K, interpolation, dtype, rng):
    """Bilinear is TensorFlow's resize (half-pixel centers, float32 arithmetic) bit for bit."""
    x = rng.standard_normal((2, 5, 4, 3)).astype(dtype)
    for size in (2, (3, 2), (1, 4), (5, 3)):
        layer = K.layers.UpSampling2D(size, interpolation=interpolation, dtype=dtype)
        check(K, layer, x, C.UpSampling2D, exact=True)
    xt = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    layer = K.layers.UpSampling2D(
        (2, 3), data_format="channels_first", interpolation=interpolation, dtype=dtype
    )
    check(K, layer, xt, C.UpSampling2D, exact=True)


def test_up_sampling2d_bilinear_is_not_torch_interpolate():
    """Why the layer does not call F.interpolate: torch's weights round differently from TF's."""
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 3, 5, 4)).astype("float32"))
    ref = C.UpSampling2D((3, 2), "channels_first", "bilinear")(x)
    torch_way = torch.nn.functional.interpolate(x, scale_factor=(3, 2), mode="bilinear")
    torch.testing.assert_close(ref, torch_way)  # the same up to rounding ...
    assert not torch.equal(ref, torch_way)  # ... but not bit for bit


# ---- ZeroPadding / Cropping ---------------------------------------------------------------------

PAD_1D = [1, 0, (2, 0), (0, 3), (1, 2)]
PAD_2D = [1, (2, 1), ((1, 2), (0, 3)), ((0, 0), (2, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_padding_parity(K, dtype, rng):
    x = rng.standard_normal((2, 5, 3)).astype(dtype)
    for padding in PAD_1D:
        check(K, K.layers.ZeroPadding1D(padding, dtype=dtype), x, C.ZeroPadding1D, exact=True)
    x = rng.standard_normal((2, 4, 5, 3)).astype(dtype)
    for padding in PAD_2D:
        check(K, K.layers.ZeroPadding2D(padding, dtype=dtype), x, C.ZeroPadding2D, exact=True)
        layer = K.layers.ZeroPadding2D(padding, data_format="channels_first", dtype=dtype)
        check(K, layer, x, C.ZeroPadding2D, exact=True)


def test_zero_padding1d_channels_first_keras3(keras3, rng):
    """Keras 3's ZeroPadding1D has a data_format (tf-keras's has none)."""
    x = rng.standard_normal((2, 3, 5)).astype("float32")
    layer = keras3.layers.ZeroPadding1D((1, 2), data_format="channels_first")
    assert check(keras3, layer, x, C.ZeroPadding1D, exact=True).data_format == "channels_first"


@pytest.mark.parametrize("dtype", DTYPES)
def test_cropping_parity(K, dtype, rng):
    x = rng.standard_normal((2, 6, 3)).astype(dtype)
    for cropping in PAD_1D:
        check(K, K.layers.Cropping1D(cropping, dtype=dtype), x, C.Cropping1D, exact=True)
    x = rng.standard_normal((2, 5, 6, 4)).astype(dtype)
    for cropping in PAD_2D:
        check(K, K.layers.Cropping2D(cropping, dtype=dtype), x, C.Cropping2D, exact=True)
        layer = K.layers.Cropping2D(cropping, data_format="channels_first", dtype=dtype)
        check(K, layer, x, C.Cropping2D, exact=True)
