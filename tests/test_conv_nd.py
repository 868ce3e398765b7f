"""Conv2D, Conv3D, DepthwiseConv1D/2D, SeparableConv1D/2D and Conv1D/2D/3DTranspose against real
Keras (Keras 3 and tf-keras, float32 and float64): outputs, weights, parameter counts, gradients,
channels_first, TimeDistributed in a CNN-LSTM, files of both formats, converter errors."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from kutil import generation
from test_keras_layers_conv import built, param_counts_match, randomize

import keraslike_torch as kt
from keraslike_torch import layers as C
from keraslike_torch.converters import ConvertContext, UnsupportedLayerError, convert_layer
from keraslike_torch.layers.conv_transpose import deconv_output_length
from keraslike_torch.porting.export import ExportError

DTYPES = ["float32", "float64"]

# (Keras class, keyword arguments, input shape); channels_last
CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3), (2, 7, 6, 3)),
    ("Conv2D", dict(filters=4, kernel_size=(4, 3), strides=(3, 2), padding="same"), (2, 10, 9, 3)),
    ("Conv2D", dict(filters=4, kernel_size=(2, 3), padding="same", dilation_rate=(2, 1)), (2, 7, 6, 3)),
    ("Conv2D", dict(filters=6, kernel_size=3, padding="same", groups=2, activation="tanh"), (2, 6, 5, 4)),
    ("Conv2D", dict(filters=3, kernel_size=1, strides=2, use_bias=False, activation="relu"), (2, 5, 6, 3)),
    ("Conv3D", dict(filters=3, kernel_size=(2, 3, 2), strides=(1, 2, 2), padding="same"), (2, 4, 5, 6, 2)),
    ("Conv3D", dict(filters=2, kernel_size=2, dilation_rate=2, activation="sigmoid"), (2, 4, 5, 4, 3)),
    ("DepthwiseConv1D", dict(kernel_size=4, depth_multiplier=2, padding="same", strides=2), (2, 9, 3)),
    ("DepthwiseConv1D", dict(kernel_size=3, dilation_rate=2, use_bias=False), (2, 9, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=3, padding="same", strides=2), (2, 7, 6, 2)),
    ("DepthwiseConv2D", dict(kernel_size=(2, 3), dilation_rate=(1, 2), activation="relu"), (2, 6, 7, 3)),
    ("SeparableConv1D", dict(filters=5, kernel_size=3, depth_multiplier=2, padding="same", strides=2), (2, 9, 3)),
    ("SeparableConv1D", dict(filters=4, kernel_size=2, dilation_rate=3, use_bias=False), (2, 10, 3)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, padding="same", strides=2), (2, 7, 6, 3)),
    ("SeparableConv2D", dict(filters=4, kernel_size=(2, 2), depth_multiplier=2, dilation_rate=2, activation="tanh"),
     (2, 6, 7, 2)),
    ("Conv1DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 3)),
    ("Conv1DTranspose", dict(filters=4, kernel_size=4, strides=3, padding="same", output_padding=2), (2, 5, 3)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=2, strides=3, activation="tanh"), (2, 5, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 4, 5, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=4, strides=2, padding="same", use_bias=False), (2, 4, 3, 3)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=(3, 2), strides=(3, 2), output_padding=(1, 1)), (2, 4, 5, 3)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=(3, 2), strides=(1, 2), padding="same", output_padding=(0, 1)),
     (2, 4, 5, 2)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), (1, 3, 4, 2, 3)),
]


def _ids(case):
    cls, kw, _ = case
    return cls + "-" + "-".join(f"{k}={v}" for k, v in kw.items() if k not in ("filters",))


def keras_layer(K, cls, kw, shape, dtype, rng):
    layer = built(getattr(K.layers, cls)(dtype=dtype, **kw), (None, *shape[1:]))
    randomize(layer, rng, dtype)
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_parity(K, dtype, case, rng):
    cls, kw, shape = case
    layer = keras_layer(K, cls, kw, shape, dtype, rng)
    module = kt.from_keras(layer)
    assert type(module) is getattr(C, cls)
    x = rng.standard_normal(shape).astype(dtype)
    kt.testing.assert_keras_parity(layer, module, x)
    param_counts_match(layer, module)
    for a, b in zip(module.get_keras_weights(), layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_transpose_dilation_float32(K, rng):
    """Dilated transposed convolutions (TensorFlow's CPU only runs them in float32, via oneDNN)."""
    for cls, kw, shape in [
        ("Conv1DTranspose", dict(filters=4, kernel_size=3, dilation_rate=2, padding="same"), (2, 5, 3)),
        ("Conv2DTranspose", dict(filters=3, kernel_size=(2, 3), dilation_rate=2), (2, 4, 5, 3)),
    ]:
        layer = keras_layer(K, cls, kw, shape, "float32", rng)
        kt.testing.assert_keras_parity(layer, kt.from_keras(layer), rng.standard_normal(shape).astype("float32"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_keras3_strided_dilated_depthwise_and_separable(keras3, dtype, rng):
    """Keras 3 computes strides > 1 with dilation_rate > 1 for these (tf-keras's op refuses)."""
    for cls, kw, shape in [
        ("DepthwiseConv2D", dict(kernel_size=3, strides=2, dilation_rate=2, padding="same"), (2, 9, 8, 2)),
        ("SeparableConv1D", dict(filters=3, kernel_size=2, strides=2, dilation_rate=2), (2, 9, 2)),
    ]:
        layer = keras_layer(keras3, cls, kw, shape, dtype, rng)
        kt.testing.assert_keras_parity(layer, kt.from_keras(layer), rng.standard_normal(shape).astype(dtype))


def test_tf_keras_causal_separable_conv1d(tfk, rng):
    """tf-keras's SeparableConv1D takes padding='causal' (Keras 3's does not)."""
    for dtype in DTYPES:
        layer = keras_layer(tfk, "SeparableConv1D", dict(filters=4, kernel_size=3, padding="causal",
                                                         dilation_rate=2), (2, 9, 3), dtype, rng)
        kt.testing.assert_keras_parity(layer, kt.from_keras(layer), rng.standard_normal((2, 9, 3)).astype(dtype))


CHANNELS_FIRST = [
    ("Conv2D", dict(filters=4, kernel_size=(3, 2), strides=2, padding="same"), (2, 7, 6, 3)),
    ("Conv3D", dict(filters=2, kernel_size=2, padding="same"), (2, 3, 4, 5, 3)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, padding="same"), (2, 7, 3)),
    ("DepthwiseConv2D", dict(kernel_size=2, depth_multiplier=2, strides=2), (2, 6, 5, 3)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, padding="same"), (2, 7, 3)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, padding="same"), (2, 6, 5, 3)),
    ("Conv1DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, output_padding=1), (2, 4, 5, 3)),
]


def test_channels_first(K, rng):
    """Keras's definition of channels_first, run in Keras: the channels_last layer with the same
    weights on the transposed input, its output transposed back (TF's CPU lacks NCHW kernels)."""
    for cls, kw, shape in CHANNELS_FIRST:
        last = keras_layer(K, cls, kw, shape, "float32", rng)
        first = getattr(K.layers, cls)(data_format="channels_first", **kw)
        first.build((None, shape[-1], *shape[1:-1]))
        first.set_weights(last.get_weights())
        ours = kt.from_keras(first)
        assert ours.data_format == "channels_first"
        x = rng.standard_normal(shape).astype("float32")
        want = np.moveaxis(np.asarray(last(x)), -1, 1)
        got = ours(torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=cls)


def test_conv2d_gradients(K, rng):
    layer = keras_layer(K, "Conv2D", dict(filters=4, kernel_size=(3, 2), strides=2, padding="same",
                                          activation="tanh"), (2, 7, 6, 3), "float64", rng)
    kt.testing.assert_keras_gradient_parity(layer, kt.from_keras(layer), rng.standard_normal((2, 7, 6, 3)))


def test_separable_transpose_depthwise_gradients(keras3, rng):
    for cls, kw, shape in [
        ("SeparableConv2D", dict(filters=3, kernel_size=3, depth_multiplier=2, padding="same"), (2, 5, 6, 2)),
        ("Conv2DTranspose", dict(filters=3, kernel_size=4, strides=2, padding="same"), (2, 3, 4, 2)),
        ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 3)),
    ]:
        layer = keras_layer(keras3, cls, kw, shape, "float64", rng)
        kt.testing.assert_keras_gradient_parity(layer, kt.from_keras(layer), rng.standard_normal(shape))


def test_time_distributed_each_class(K, rng):
    for cls, kw, shape in [c for c in CASES if not c[0].startswith("Conv3D")][::2]:
        layer = K.layers.TimeDistributed(getattr(K.layers, cls)(**kw))
        layer.build((None, 3, *shape[1:]))
        randomize(layer, rng, "float32")
        module = kt.from_keras(layer)
        assert isinstance(module.layer, getattr(C, cls))
        x = rng.standard_normal((2, 3, *shape[1:])).astype("float32")
        kt.testing.assert_keras_parity(layer, module, x)


# ---- TimeDistributed(Conv2D) -> TimeDistributed(Flatten) -> LSTM, live and in files ---------------


def cnn_lstm(K):
    L = K.layers
    inp = K.Input((4, 6, 5, 3), name="frames")
    h = L.TimeDistributed(L.Conv2D(4, 3, strides=2, padding="same", activation="relu"), name="td_conv")(inp)
    h = L.TimeDistributed(L.SeparableConv2D(3, 2, depth_multiplier=2), name="td_sep")(h)
    h = L.TimeDistributed(L.Flatten(), name="td_flat")(h)
    h = L.LSTM(5, name="lstm")(h)
    return K.Model(inp, L.Dense(2, name="out")(h))


def conv_zoo(K):
    """Every new class in one multi-input, multi-output model."""
    L = K.layers
    a, b, c = K.Input((8, 7, 3), name="img"), K.Input((9, 3), name="seq"), K.Input((4, 4, 4, 2), name="vol")
    y = L.Conv2D(4, 3, padding="same", name="c2")(a)
    y = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, name="dw2")(y)
    y = L.SeparableConv2D(3, 2, padding="same", name="sep2")(y)
    y = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="up2")(y)
    s = L.DepthwiseConv1D(3, padding="same", name="dw1")(b)
    s = L.SeparableConv1D(4, 2, depth_multiplier=2, name="sep1")(s)
    s = L.Conv1DTranspose(2, 3, strides=2, output_padding=1, name="up1")(s)
    v = L.Conv3D(3, 2, name="c3")(c)
    v = L.Conv3DTranspose(2, 2, strides=2, name="up3")(v)
    return K.Model([a, b, c], [y, s, v])


def _random_model(model, rng):
    model.set_weights([(rng.standard_normal(w.shape) * 0.4).astype(w.dtype) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def saved_models(keras3, tfk, tmp_path_factory):
    """Both models in each generation, saved once: Keras 3 `.keras` and tf-keras legacy `.h5`."""
    rng = np.random.default_rng(7)
    tmp = tmp_path_factory.mktemp("conv_nd")
    out = {}
    for K, suffix in ((keras3, "keras"), (tfk, "h5")):
        for name, make in (("cnn_lstm", cnn_lstm), ("zoo", conv_zoo)):
            model = _random_model(make(K), rng)
            path = tmp / f"{name}_{generation(K)}.{suffix}"
            model.save(path)
            out[generation(K), name] = (model, path)
    return out


def _inputs(name, rng):
    if name == "cnn_lstm":
        return [rng.standard_normal((3, 4, 6, 5, 3)).astype("float32")]
    return [rng.standard_normal(s).astype("float32") for s in ((2, 8, 7, 3), (2, 9, 3), (2, 4, 4, 4, 2))]


@pytest.mark.parametrize("gen", [3, 2])
@pytest.mark.parametrize("name", ["cnn_lstm", "zoo"])
def test_files_and_live_models(saved_models, gen, name, rng):
    model, path = saved_models[gen, name]
    x = _inputs(name, rng)
    want = model.predict(x if len(x) > 1 else x[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    for ours in (kt.load_model(path), kt.from_keras(model)):
        with torch.no_grad():
            got = ours(*[torch.from_numpy(a) for a in x])
        got = got if isinstance(got, (list, tuple)) else [got]
        report = kt.testing.compare_outputs(want, list(got))
        assert report.ok, str(report)
    if name == "cnn_lstm":
        td = dict(ours.keras_layers())["td_conv"]
        assert isinstance(td, C.TimeDistributed) and isinstance(td.layer, C.Conv2D)


@pytest.mark.parametrize("name", ["cnn_lstm", "zoo"])
def test_save_keras_round_trip(saved_models, keras3, tfk, tmp_path, name, rng):
    """A loaded model with changed weights, written as .keras and .h5 and read by Keras 3 and
    tf-keras: Keras computes what the module computes."""
    module = kt.load_model(saved_models[2 if name == "zoo" else 3, name][1])
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.1)
    x = _inputs(name, rng)
    with torch.no_grad():
        ours = module(*[torch.from_numpy(a) for a in x])
    ours = list(ours) if isinstance(ours, (list, tuple)) else [ours]
    for K, suffix in ((keras3, "keras"), (tfk, "h5")):
        kt.save_keras(module, tmp_path / f"out.{suffix}")
        loaded = K.models.load_model(tmp_path / f"out.{suffix}", compile=False)
        want = loaded.predict(x if len(x) > 1 else x[0], verbose=0)
        report = kt.testing.compare_outputs(want if isinstance(want, list) else [want], ours)
        assert report.ok, f"{suffix}: {report}"


def test_save_keras_refuses_what_a_generation_cannot_run(keras3, tfk, tmp_path):
    causal = tfk.Sequential([tfk.Input((6, 3)), tfk.layers.SeparableConv1D(2, 3, padding="causal", name="sep")])
    strided = keras3.Sequential([keras3.Input((9, 9, 3)),
                                 keras3.layers.DepthwiseConv2D(3, strides=2, dilation_rate=2, name="dw")])
    dilated = keras3.Sequential([keras3.Input((3, 3, 3, 2)),
                                 keras3.layers.Conv3DTranspose(2, 2, dilation_rate=2, name="up")])
    for model, file, message in [
        (causal, "x.keras", "SeparableConv1D layer 'sep': padding='causal' is tf-keras only"),
        (dilated, "x.h5", "Conv3DTranspose layer 'up': tf-keras's Conv3DTranspose has no dilation_rate"),
        (strided, "x.h5", "DepthwiseConv2D layer 'dw': strides > 1 with dilation_rate > 1 does not run in tf-keras"),
    ]:
        with pytest.raises(ExportError, match=message):
            kt.save_keras(kt.from_keras(model), tmp_path / file)


WRITTEN = [("Conv2D", (2, 3), (6, 5, 3)), ("Conv3D", (2, 3), (4, 4, 4, 2)), ("DepthwiseConv1D", (3,), (6, 3)),
           ("DepthwiseConv2D", (3,), (6, 5, 3)), ("SeparableConv1D", (2, 3), (6, 3)),
           ("SeparableConv2D", (2, 3), (6, 5, 3)), ("Conv1DTranspose", (2, 3), (6, 3)),
           ("Conv2DTranspose", (2, 3), (6, 5, 3)), ("Conv3DTranspose", (2, 3), (4, 4, 4, 2))]


def test_written_configs_are_what_keras_writes(K):
    """Each writer gives the generation's own config: the same keys, the same values (JSON form)."""
    import json

    from keraslike_torch.porting.export.configs import layer_config

    for cls, args, shape in WRITTEN:
        layer = built(getattr(K.layers, cls)(*args, strides=1, activation="relu", name="w"), (None, *shape))
        want = json.loads(json.dumps(layer.get_config()))
        got = json.loads(json.dumps(layer_config(kt.from_keras(layer), generation(K))["config"]))
        assert list(got) == list(want) if generation(K) == 3 else set(got) == set(want), cls
        for key in want:
            if not key.endswith("initializer") and key != "dtype":
                assert got[key] == want[key], (cls, key)


# ---- torch behaviour --------------------------------------------------------------------------


MODULES = [
    (lambda: C.Conv2D(4, (3, 2), groups=2), (2, 5, 6, 4)),
    (lambda: C.DepthwiseConv2D(2, depth_multiplier=3), (2, 5, 6, 4)),
    (lambda: C.SeparableConv1D(3, 2, depth_multiplier=2), (2, 5, 4)),
    (lambda: C.Conv2DTranspose(3, 3, strides=2, padding="same"), (2, 5, 6, 4)),
]


@pytest.mark.parametrize("index", range(len(MODULES)))
def test_lazy_weights_state_dict_and_copies(index):
    make, shape = MODULES[index]
    conv = make()
    assert not conv.built and conv.count_params() == 0 and conv.get_keras_weights() == []
    x = torch.randn(*shape)
    y = conv(x)
    weights = conv.get_keras_weights()
    assert [w.shape for w in weights] == conv.keras_weight_shapes()
    fresh = make()  # set_keras_weights builds an unbuilt layer
    fresh.set_keras_weights([w * 2 for w in weights])
    assert fresh.input_size == shape[-1]
    np.testing.assert_array_equal(fresh.get_keras_weights()[0], weights[0] * 2)
    other = make()  # a state dict builds one too
    other.load_state_dict(conv.state_dict())
    torch.testing.assert_close(other(x), y)
    for clone in (copy.deepcopy(conv), pickle.loads(pickle.dumps(conv)),
                  type(conv)(**{**conv.get_config(), **conv.built_config()})):
        clone.load_state_dict(conv.state_dict())
        torch.testing.assert_close(clone(x), y)
    conv.double()
    assert conv(x.double()).dtype == torch.float64 and conv.get_keras_weights()[0].dtype == np.float64
    with pytest.raises(ValueError, match="expects"):  # atomic: a wrong list changes nothing
        conv.set_keras_weights(weights[:1] + [np.zeros(1)] * (len(weights) - 1))
    np.testing.assert_array_equal(conv.get_keras_weights()[0], weights[0])


def test_depthwise_layout_matches_grouped_convolution():
    """Output channel c * multiplier + m is channel c's m-th kernel (tf.nn.depthwise_conv2d)."""
    conv = C.DepthwiseConv1D(1, depth_multiplier=2, use_bias=False)
    conv.set_keras_weights([np.array([[[1.0, 10.0], [100.0, 1000.0]]], "float32")])
    y = conv(torch.tensor([[[1.0, 2.0]]]))
    assert y.tolist() == [[[1.0, 10.0, 200.0, 2000.0]]]


def test_deconv_output_length_agrees_with_keras(keras3, tfk):
    from keras.src.backend.common.backend_utils import _get_output_shape_given_tf_padding
    from tf_keras.src.utils.conv_utils import deconv_output_length as tfk_length

    for n, k, pad, op, s, d in [(5, 3, "same", None, 2, 1), (5, 4, "valid", None, 3, 1),
                                (4, 3, "same", 1, 2, 1), (6, 2, "valid", 1, 3, 1), (5, 3, "same", None, 1, 2)]:
        ours = deconv_output_length(n, k, pad, op, s, d)
        assert ours == tfk_length(n, k, pad, op, s, d) == _get_output_shape_given_tf_padding(n, k, s, pad, op, d)


def test_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match="Conv2D expects 3 input channels, got 2"):
        C.Conv2D(2, 3, input_size=3)(torch.zeros(1, 5, 5, 2))
    with pytest.raises(ValueError, match="Conv3D expects an input with at least 5 dimensions"):
        C.Conv3D(2, 3)(torch.zeros(1, 5, 5, 2))
    with pytest.raises(ValueError, match="SeparableConv2D: an input of 2 steps is too short"):
        C.SeparableConv2D(2, 3)(torch.zeros(1, 5, 2, 2))
    with pytest.raises(ValueError, match="Conv2D: kernel_size must be one integer or 2"):
        C.Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="Conv2D: padding must be one of 'valid', 'same'"):
        C.Conv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="Conv2DTranspose: strides > 1 is not supported with dilation"):
        C.Conv2DTranspose(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"Conv1DTranspose: output_padding \(2\) must be less than strides"):
        C.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="DepthwiseConv2D: depth_multiplier must be a positive integer"):
        C.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match="Conv2D: input channels \\(3\\) must be divisible by groups"):
        C.Conv2D(4, 3, groups=2)(torch.zeros(1, 5, 5, 3))


# ---- converters ---------------------------------------------------------------------------------


def test_keras1_convolution2d_config(tfk, rng):
    cfg = {"name": "c2", "nb_filter": 4, "nb_row": 3, "nb_col": 2, "border_mode": "same",
           "subsample": [2, 1], "activation": "relu", "init": "glorot_uniform", "bias": True,
           "dim_ordering": "tf", "W_regularizer": None, "b_constraint": None, "trainable": True}
    module = convert_layer("Convolution2D", cfg, ConvertContext(keras_version=1))
    assert (module.filters, module.kernel_size, module.strides, module.padding) == (4, (3, 2), (2, 1), "same")
    layer = built(tfk.layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu"), (None, 7, 6, 3))
    module.set_keras_weights(randomize(layer, rng, "float32"))
    kt.testing.assert_keras_parity(layer, module, rng.standard_normal((2, 7, 6, 3)).astype("float32"))
    atrous = convert_layer("AtrousConvolution2D", {**cfg, "subsample": [1, 1], "atrous_rate": [2, 2]},
                           ConvertContext(keras_version=1))
    assert atrous.dilation_rate == (2, 2)
    c3 = convert_layer("Convolution3D", {"nb_filter": 2, "kernel_dim1": 1, "kernel_dim2": 2, "kernel_dim3": 3,
                                         "dim_ordering": "tf"}, ConvertContext(keras_version=1))
    assert c3.kernel_size == (1, 2, 3)
    with pytest.raises(UnsupportedLayerError, match=r"Conv2D layer 'c2': dim_ordering='th' is not supported"):
        convert_layer("Convolution2D", {**cfg, "dim_ordering": "th"}, ConvertContext(keras_version=1))
    with pytest.raises(UnsupportedLayerError, match=r"Conv2D layer 'c2': padding='full'"):
        convert_layer("Convolution2D", {**cfg, "border_mode": "full"}, ConvertContext(keras_version=1))


def test_unsupported_options_name_layer_and_option(keras3, tfk):
    def cfg(K, cls, *args, **kw):
        return getattr(K.layers, cls)(*args, name="lyr", **kw).get_config()

    cases = [
        ("Conv2D", {**cfg(keras3, "Conv2D", 2, 3), "lora_rank": 2}, r"Conv2D layer 'lyr': lora_rank=2"),
        ("Conv2D", {**cfg(keras3, "Conv2D", 2, 3), "padding": "causal"}, r"Conv2D layer 'lyr': padding='causal'"),
        ("Conv2D", {**cfg(keras3, "Conv2D", 2, 3), "kernel_size": [3, 3, 3]}, r"'lyr': kernel_size=\[3, 3, 3\]"),
        ("Conv3D", {**cfg(keras3, "Conv3D", 2, 3), "foo": 1},
         r"Conv3D layer 'lyr': unsupported config option\(s\) \['foo'\]"),
        ("DepthwiseConv2D", {**cfg(tfk, "DepthwiseConv2D", 3), "groups": 2}, r"DepthwiseConv2D layer 'lyr': groups=2"),
        ("DepthwiseConv1D", {**cfg(keras3, "DepthwiseConv1D", 3), "padding": "causal"}, r"'lyr': padding='causal'"),
        ("SeparableConv2D", {**cfg(keras3, "SeparableConv2D", 2, 3), "data_format": "nhwc"},
         r"SeparableConv2D layer 'lyr': data_format='nhwc'"),
        ("Conv2DTranspose", {**cfg(keras3, "Conv2DTranspose", 2, 3), "output_padding": [2, 2], "strides": [2, 2]},
         r"Conv2DTranspose layer 'lyr': .*output_padding"),
        ("Conv1DTranspose", {**cfg(tfk, "Conv1DTranspose", 2, 3), "groups": 2},
         r"Conv1DTranspose layer 'lyr': groups=2"),
        ("SeparableConv1D", {"name": "lyr", "kernel_size": 3}, r"SeparableConv1D layer 'lyr' has no 'filters'"),
    ]
    for cls, config, message in cases:
        with pytest.raises(UnsupportedLayerError, match=message):
            convert_layer(cls, config, ConvertContext(keras_version=3))
    # tf-keras's configs (groups=1, SeparableConv's unused kernel_initializer) are accepted
    for cls, args in (("SeparableConv2D", (2, 3)), ("DepthwiseConv2D", (3,)), ("Conv2DTranspose", (2, 3))):
        module = convert_layer(cls, cfg(tfk, cls, *args), ConvertContext(keras_version=2))
        assert type(module) is getattr(C, cls)
