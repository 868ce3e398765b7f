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
from keraslike_torch.porting.export.configs import ExportError

DTYPES = ["float32", "float64"]
pytestmark = pytest.mark.filterwarnings("ignore:Layer .* does not support masking:UserWarning")


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


# ---- models: every layer in one graph, a CNN-LSTM over TimeDistributed, masks, files -------------


def _random_weights(model, rng):
    model.set_weights(
        [(rng.standard_normal(w.shape) * 0.5).astype(w.dtype) for w in model.get_weights()]
    )
    return model


def _zoo(K, rng):
    """Each new layer (and its options) once, in a four-input functional model: token ids whose
    Embedding mask the spatial layers drop (a GlobalAveragePooling1D after them sees none), a
    sequence, an image (channels_last and, after a Permute, channels_first) and a volume."""
    L = K.layers
    ids, seq = K.Input((6,), dtype="int32"), K.Input((6, 3))
    img, vol = K.Input((5, 6, 2)), K.Input((4, 6, 5, 2))
    e = L.Embedding(5, 3, mask_zero=True)(ids)
    masked = [L.GlobalAveragePooling1D()(layer(e)) for layer in (
        L.UpSampling1D(2), L.ZeroPadding1D(1), L.Cropping1D((0, 2)), L.MaxPooling1D(2),
        L.AveragePooling1D(2, padding="same"),
    )]
    s = L.Cropping1D((2, 1))(L.ZeroPadding1D((1, 2))(L.UpSampling1D(3)(seq)))
    s = L.GlobalMaxPooling1D()(L.AveragePooling1D(3, strides=2, padding="same")(s))
    i = L.ZeroPadding2D(((1, 0), (2, 1)))(img)
    i = L.UpSampling2D((2, 1), interpolation="bilinear")(i)
    i = L.UpSampling2D(2)(L.Cropping2D(((1, 1), (0, 2)))(i))
    i = L.AveragePooling2D(2, strides=1, padding="same")(L.MaxPooling2D((2, 3), padding="same")(i))
    first = L.Permute((3, 1, 2))(i)
    first = L.MaxPooling2D(2, padding="same", data_format="channels_first")(first)
    first = L.UpSampling2D(2, data_format="channels_first", interpolation="bilinear")(first)
    first = L.GlobalAveragePooling2D(data_format="channels_first")(first)
    v = L.AveragePooling3D(2, padding="same")(L.MaxPooling3D((1, 2, 2))(vol))
    parts = [*masked, s, L.GlobalMaxPooling2D()(i), L.GlobalAveragePooling2D()(i), first,
             L.GlobalMaxPooling3D()(v), L.GlobalAveragePooling3D()(v)]
    out = L.Dense(3)(L.Concatenate()(parts))
    model = _random_weights(K.Model([ids, seq, img, vol], out), rng)
    ids_x = rng.integers(1, 5, size=(3, 6)).astype("int32")
    ids_x[0, 3:] = 0
    ids_x[1, :2] = 0
    inputs = [ids_x] + [rng.standard_normal((3, *t.shape[1:])).astype("float32")
                        for t in (seq, img, vol)]
    return model, inputs


def _cnn_lstm(K, rng):
    """CNN-LSTM: TimeDistributed poolings/resizing over frames, Flatten, then LSTMs."""
    L, TD = K.layers, K.layers.TimeDistributed
    frames, series = K.Input((4, 8, 8, 2)), K.Input((4, 6, 3))
    h = TD(L.MaxPooling2D(2))(TD(L.ZeroPadding2D(1))(frames))
    h = TD(L.UpSampling2D(2, interpolation="bilinear"))(h)
    h = TD(L.AveragePooling2D(3, padding="same"))(TD(L.Cropping2D(((1, 0), (0, 1))))(h))
    a = L.LSTM(5)(TD(L.Flatten())(h))
    b = L.LSTM(2)(TD(L.GlobalMaxPooling2D())(frames))
    c = L.LSTM(2)(TD(L.GlobalAveragePooling2D())(TD(L.UpSampling2D((1, 2)))(frames)))
    t = TD(L.Cropping1D((0, 2)))(TD(L.ZeroPadding1D(1))(TD(L.UpSampling1D(2))(series)))
    t = TD(L.GlobalAveragePooling1D())(TD(L.MaxPooling1D(2, padding="same"))(t))
    out = L.Concatenate()([a, b, c, L.LSTM(3)(t)])
    model = _random_weights(K.Model([frames, series], out), rng)
    return model, [rng.standard_normal((2, *x.shape[1:])).astype("float32") for x in (frames, series)]


@pytest.fixture(scope="module", params=["keras3", "tf_keras"])
def models(request):
    K = request.getfixturevalue("keras3" if request.param == "keras3" else "tfk")
    rng = np.random.default_rng(7)
    return K, [_zoo(K, rng), _cnn_lstm(K, rng)]


def test_models_from_keras(models):
    K, built = models
    for model, inputs in built:
        kt.testing.assert_keras_parity(model, kt.from_keras(model), inputs)


def test_models_through_files(models, tmp_path):
    """Keras 3 saves .keras, tf-keras a legacy .h5; kt.load_model of each gives Keras's predict."""
    K, built = models
    suffix = ".keras" if generation(K) == 3 else ".h5"
    for n, (model, inputs) in enumerate(built):
        path = tmp_path / f"model{n}{suffix}"
        model.save(path)
        want = model.predict(inputs, verbose=0)
        loaded = kt.load_model(path)
        with torch.no_grad():
            got = loaded(*[torch.from_numpy(x) for x in inputs])
        report = kt.testing.compare_outputs(want, got)
        assert report.ok, str(report)


def test_time_distributed_wraps_the_modules(models):
    K, built = models
    module = kt.from_keras(built[1][0])
    inner = {type(m.layer) for m in module.modules() if isinstance(m, C.TimeDistributed)}
    assert {C.MaxPooling2D, C.AveragePooling2D, C.UpSampling2D, C.ZeroPadding2D, C.Cropping2D,
            C.GlobalMaxPooling2D, C.GlobalAveragePooling2D, C.UpSampling1D, C.ZeroPadding1D,
            C.Cropping1D} <= inner


def test_max_pooling3d_after_a_5d_sequence(K, rng):
    """ConvLSTM2D's return_sequences output is (batch, time, rows, cols, filters): MaxPooling3D
    pools time too, as in Keras."""
    x = rng.standard_normal((2, 5, 6, 6, 4)).astype("float32")
    layer = K.layers.MaxPooling3D((1, 2, 2))
    assert check(K, layer, x, C.MaxPooling3D, exact=True).pool_size == (1, 2, 2)
    check(K, K.layers.MaxPooling3D((2, 2, 2), padding="same"), x, C.MaxPooling3D, exact=True)


# ---- Keras 1 configs ----------------------------------------------------------------------------

KERAS1 = ConvertContext(keras_version=1)


def test_keras1_configs_match_tf_keras(tfk, rng):
    """Keras 1 names (border_mode, dim_ordering 'tf', length, 4-int and dict padding) mean what
    the tf-keras layer with today's names computes."""
    img = rng.standard_normal((2, 6, 7, 3)).astype("float32")
    seq = rng.standard_normal((2, 5, 3)).astype("float32")
    L = tfk.layers
    cases = [
        ("MaxPooling2D", {"pool_size": [3, 2], "strides": [1, 2], "border_mode": "same",
                          "dim_ordering": "tf"}, L.MaxPooling2D((3, 2), (1, 2), "same"), img),
        ("AveragePooling2D", {"pool_size": [2, 2], "strides": None, "border_mode": "same",
                              "dim_ordering": "tf"}, L.AveragePooling2D(2, padding="same"), img),
        ("AveragePooling3D", {"pool_size": [1, 2, 2], "strides": None, "border_mode": "valid",
                              "dim_ordering": "tf"}, L.AveragePooling3D((1, 2, 2)), img[..., None]),
        ("GlobalMaxPooling2D", {"dim_ordering": "tf"}, L.GlobalMaxPooling2D(), img),
        ("UpSampling1D", {"length": 3}, L.UpSampling1D(3), seq),
        ("UpSampling2D", {"size": [2, 1], "dim_ordering": "tf"}, L.UpSampling2D((2, 1)), img),
        ("ZeroPadding1D", {"padding": {"left_pad": 2, "right_pad": 1}}, L.ZeroPadding1D((2, 1)), seq),
        ("ZeroPadding2D", {"padding": [1, 0, 2, 3], "dim_ordering": "tf"},
         L.ZeroPadding2D(((1, 0), (2, 3))), img),
        ("ZeroPadding2D", {"padding": {"top_pad": 2, "right_pad": 1}},
         L.ZeroPadding2D(((2, 0), (0, 1))), img),
        ("Cropping1D", {"cropping": [1, 2]}, L.Cropping1D((1, 2)), seq),
        ("Cropping2D", {"cropping": [[1, 0], [2, 2]], "dim_ordering": "tf"},
         L.Cropping2D(((1, 0), (2, 2))), img),
    ]
    for class_name, config, layer, x in cases:
        module = convert_layer(class_name, {"name": "k1", "trainable": True, **config}, KERAS1)
        report = kt.testing.compare_outputs(keras_out(tfk, layer, x), ours(module, x))
        assert report.ok, f"{class_name} {config}: {report}"


def test_keras1_theano_ordering_is_refused():
    for class_name in ("MaxPooling2D", "GlobalAveragePooling2D", "UpSampling2D", "ZeroPadding2D",
                       "Cropping2D", "AveragePooling3D"):
        with pytest.raises(
            UnsupportedLayerError, match=rf"{class_name} layer 'th1'.*dim_ordering='th'.*'tf'"
        ):
            convert_layer(class_name, {"name": "th1", "dim_ordering": "th"}, KERAS1)


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("class_name", "config", "match"),
    [
        ("UpSampling2D", {"interpolation": "bicubic"}, r"UpSampling2D layer 'e'.*interpolation='bicubic'"),
        ("UpSampling2D", {"size": [2, 2, 2]}, r"UpSampling2D layer 'e'.*size=\[2, 2, 2\]"),
        ("UpSampling1D", {"size": 0}, r"UpSampling1D layer 'e'.*size=0"),
        ("MaxPooling2D", {"padding": "causal"}, r"MaxPooling2D layer 'e'.*padding='causal'"),
        ("AveragePooling3D", {"pool_size": [2, 2]}, r"AveragePooling3D layer 'e'.*pool_size=\[2, 2\]"),
        ("MaxPooling3D", {"strides": [1, 0, 1]}, r"MaxPooling3D layer 'e'.*strides"),
        ("GlobalMaxPooling3D", {"data_format": "channels_middle"},
         r"GlobalMaxPooling3D layer 'e'.*data_format='channels_middle'"),
        ("ZeroPadding2D", {"padding": [[1, 2, 3], [0, 0]]}, r"ZeroPadding2D layer 'e'.*padding"),
        ("ZeroPadding1D", {"padding": -1}, r"ZeroPadding1D layer 'e'.*padding=-1"),
        ("ZeroPadding2D", {"padding": {"top": 1}}, r"ZeroPadding2D layer 'e'.*padding.*top_pad"),
        ("Cropping2D", {"cropping": [1, 2, 3]}, r"Cropping2D layer 'e'.*cropping"),
        ("Cropping1D", {"cropping": 1, "data_format": "channels_first"},
         r"Cropping1D layer 'e'.*unsupported config option\(s\) \['data_format'\]"),
        ("MaxPooling2D", {"foo": 1}, r"MaxPooling2D layer 'e'.*unsupported config option\(s\) \['foo'\]"),
    ],
)
def test_bad_configs_name_the_layer_and_option(class_name, config, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        convert_layer(class_name, {"name": "e", **config})


def test_unsupported_live_interpolation(K):
    layer = K.layers.UpSampling2D(interpolation="bicubic", name="up")
    with pytest.raises(UnsupportedLayerError, match=r"'up'.*interpolation='bicubic'"):
        kt.from_keras(layer)


def test_bad_inputs_name_the_layer():
    cases = [
        (C.MaxPooling2D(), torch.zeros(1, 4, 4), r"MaxPooling2D expects a 4-D input"),
        (C.AveragePooling3D(), torch.zeros(1, 4, 4, 4), r"AveragePooling3D expects a 5-D input"),
        (C.MaxPooling2D(3), torch.zeros(1, 2, 5, 1),
         r"MaxPooling2D: an input of spatial shape \(2, 5\) is too short for pool_size=\(3, 3\)"),
        (C.GlobalAveragePooling2D(), torch.zeros(1, 0, 3, 2), r"GlobalAveragePooling2D got an input with 0 steps"),
        (C.UpSampling1D(), torch.zeros(2, 3), r"UpSampling1D expects a 3-D input"),
        (C.Cropping1D((2, 2)), torch.zeros(1, 4, 1), r"Cropping1D: cropping=\(2, 2\) leaves nothing"),
        (C.Cropping2D(((0, 0), (1, 1))), torch.zeros(1, 3, 2, 1), r"Cropping2D: cropping=.*leaves nothing"),
        (C.ZeroPadding2D(), torch.zeros(1, 3, 2, dtype=torch.long), r"ZeroPadding2D expects floating-point"),
    ]
    for module, x, match in cases:
        with pytest.raises((ValueError, TypeError), match=match):
            module(x)
    bad = [
        (lambda: C.AveragePooling3D((2, 2)), r"AveragePooling3D: pool_size must be one integer or 3"),
        (lambda: C.MaxPooling2D(2, strides=0), r"MaxPooling2D: strides must be a positive integer"),
        (lambda: C.UpSampling2D(interpolation="area"), r"UpSampling2D: interpolation='area' is not"),
        (lambda: C.ZeroPadding2D(-1), r"ZeroPadding2D: padding must be a non-negative integer"),
        (lambda: C.Cropping2D((1, 2, 3)), r"Cropping2D: cropping must be one integer or 2 entries"),
        (lambda: C.GlobalMaxPooling2D(data_format="nhwc"), r"GlobalMaxPooling2D: data_format"),
    ]
    for make, match in bad:
        with pytest.raises(ValueError, match=match):
            make()


# ---- plain torch citizens -----------------------------------------------------------------------

NEW_LAYERS = [
    (lambda: C.MaxPooling2D((2, 3), padding="same"), (2, 5, 7, 3)),
    (lambda: C.AveragePooling2D(3, 2, "same", "channels_first"), (2, 3, 7, 5)),
    (lambda: C.MaxPooling3D(2, padding="same"), (2, 3, 5, 4, 2)),
    (lambda: C.AveragePooling3D((1, 2, 2), padding="same"), (2, 3, 5, 4, 2)),
    (lambda: C.GlobalMaxPooling2D(keepdims=True), (2, 3, 4, 2)),
    (lambda: C.GlobalAveragePooling2D(), (2, 3, 4, 2)),
    (lambda: C.GlobalMaxPooling3D("channels_first"), (2, 2, 3, 4, 2)),
    (lambda: C.GlobalAveragePooling3D(keepdims=True), (2, 3, 4, 2, 2)),
    (lambda: C.UpSampling1D(3), (2, 4, 3)),
    (lambda: C.UpSampling2D((2, 3), interpolation="bilinear"), (2, 3, 4, 2)),
    (lambda: C.ZeroPadding1D((1, 2)), (2, 4, 3)),
    (lambda: C.ZeroPadding2D(((1, 0), (2, 1))), (2, 3, 4, 2)),
    (lambda: C.Cropping1D((1, 0)), (2, 4, 3)),
    (lambda: C.Cropping2D(1, "channels_first"), (2, 2, 4, 5)),
]


@pytest.mark.parametrize("case", range(len(NEW_LAYERS)))
def test_torch_citizens(case, tmp_path):
    make, shape = NEW_LAYERS[case]
    layer = make()
    x = torch.randn(*shape, dtype=torch.float64)
    y = layer(x)
    assert y.dtype == torch.float32  # Keras casts floating inputs to the layer's dtype
    for other in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        torch.testing.assert_close(other(x), y)
    clone = type(layer)(**{**layer.get_config(), **getattr(layer, "built_config", dict)()})
    clone.load_state_dict(layer.state_dict())
    assert layer.state_dict() == {} and repr(clone) == repr(layer)
    torch.testing.assert_close(clone(x), y)
    layer.double().train()
    assert layer(x).dtype == torch.float64
    torch.testing.assert_close(layer(x).float(), y)
    assert layer.count_params() == 0 and layer.get_keras_weights() == []
    layer.set_keras_weights([])
    with pytest.raises(ValueError, match="expects 0 weights"):
        layer.set_keras_weights([np.zeros(2, "float32")])


def test_save_keras_round_trip(models, keras3, tfk, tmp_path):
    """kt.save_keras writes the loaded models back as .keras and tf-keras .h5; Keras loads each
    file and computes what the torch module computes; kt.to_keras builds the same live model."""
    K, built = models
    suffix = ".keras" if generation(K) == 3 else ".h5"
    for n, (model, inputs) in enumerate(built):
        model.save(tmp_path / f"src{n}{suffix}")
        module = kt.load_model(tmp_path / f"src{n}{suffix}")
        with torch.no_grad():
            want = module(*[torch.from_numpy(x) for x in inputs]).numpy()
        for out in (".keras", ".h5"):
            kt.save_keras(module, tmp_path / f"out{n}{out}")
            if out == ".keras":
                back = keras3.models.load_model(tmp_path / f"out{n}{out}", safe_mode=True)
            else:
                back = tfk.models.load_model(tmp_path / f"out{n}{out}")
            got = np.asarray(back(inputs, training=False))
            report = kt.testing.compare_outputs(got, torch.from_numpy(want))
            assert report.ok, f"{n}{out}: {report}"
        live = kt.to_keras(module, generation=generation(K))  # a live Keras model, no file
        report = kt.testing.compare_outputs(np.asarray(live(inputs, training=False)), torch.from_numpy(want))
        assert report.ok, f"{n} to_keras: {report}"


def test_save_keras_refuses_what_tf_keras_cannot_express(keras3, tmp_path):
    x = keras3.Input((3, 5))
    model = keras3.Model(x, keras3.layers.ZeroPadding1D(1, data_format="channels_first", name="zp")(x))
    module = kt.from_keras(model)
    with pytest.raises(ExportError, match=r"ZeroPadding1D layer 'zp': data_format='channels_first'"):
        kt.save_keras(module, tmp_path / "x.h5")
    assert not list(tmp_path.iterdir())
    kt.save_keras(module, tmp_path / "x.keras")
    back = keras3.models.load_model(tmp_path / "x.keras", safe_mode=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype("float32")
    np.testing.assert_array_equal(np.asarray(back(x)), ours(module, x).numpy())


def test_convert_writes_code_that_runs(models, tmp_path):
    """`convert` (codegen) writes model.py constructing the spatial modules; it gives the numbers."""
    import importlib.util

    from keraslike_torch.tools.codegen import save_converted

    K, built = models
    for n, (model, inputs) in enumerate(built):
        module = kt.from_keras(model)
        code, _ = save_converted(module, tmp_path / f"out{n}", source="m.keras")
        spec = importlib.util.spec_from_file_location(f"spatial_converted_{generation(K)}_{n}", code)
        written = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(written)
        xs = [torch.from_numpy(x) for x in inputs]
        with torch.no_grad():
            torch.testing.assert_close(written.load()(*xs), module(*xs), rtol=0, atol=0)
        assert "UpSampling2D(" in code.read_text()


def test_cnn_lstm_gradients(models):
    """d loss / d inputs and d loss / d LSTM weights through the TimeDistributed spatial layers
    (max pooling's argmax routing, bilinear's weights, 'same' averages) equal TensorFlow's."""
    K, built = models
    model, inputs = built[1]
    kt.testing.assert_keras_gradient_parity(model, kt.from_keras(model), inputs)
