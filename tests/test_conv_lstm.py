"""ConvLSTM1D / ConvLSTM2D / ConvLSTM3D against real Keras (Keras 3 and tf-keras, float32 and
float64): options, masks, initial and stateful states, dropout, gradients, files of both formats,
torch-module behaviour and error messages."""

from __future__ import annotations

import copy
import importlib.util
import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch.converters import UnsupportedLayerError, convert_layer
from keraslike_torch.recurrent import ConvLSTMCell
from keraslike_torch.tools.codegen import save_converted

DTYPES = ["float32", "float64"]


def keras_layer(K, cls, input_shape, dtype, rng, batch=None, **kw):
    """A built Keras ConvLSTM layer with random weights (scaled so the recurrence stays tame)."""
    layer = getattr(K.layers, cls)(dtype=dtype, **kw)
    layer.build((batch, *input_shape))
    layer.set_weights([(rng.standard_normal(w.shape) * 0.3).astype(dtype) for w in layer.get_weights()])
    return layer


def holey_mask(batch, steps):
    """Post-padding, a hole and a fully masked row: every case of Keras's mask semantics."""
    mask = np.ones((batch, steps), bool)
    mask[0, steps - 1:] = False
    mask[1, 1] = False
    mask[2, :] = False
    return mask


# (class, input shape without batch, keywords): a matrix over ranks, padding, strides, dilation,
# even/odd and non-square kernels, activations, bias options and return values.
CASES = [
    ("ConvLSTM1D", (4, 9, 3), dict(filters=2, kernel_size=3, return_sequences=True)),
    ("ConvLSTM1D", (4, 9, 3), dict(filters=3, kernel_size=2, padding="same", dilation_rate=2,
                                   go_backwards=True, return_sequences=True)),
    ("ConvLSTM2D", (4, 7, 6, 3), dict(filters=4, kernel_size=3, padding="same", return_sequences=True,
                                      return_state=True)),
    ("ConvLSTM2D", (3, 7, 6, 2), dict(filters=3, kernel_size=(2, 4), padding="same", strides=2,
                                      return_state=True, use_bias=False)),
    ("ConvLSTM2D", (3, 8, 8, 2), dict(filters=2, kernel_size=3, dilation_rate=2, activation="relu",
                                      recurrent_activation="hard_sigmoid", unit_forget_bias=False)),
    ("ConvLSTM2D", (3, 7, 7, 2), dict(filters=2, kernel_size=3, strides=(2, 1), go_backwards=True,
                                      return_sequences=True, recurrent_activation="hard_sigmoid")),
    ("ConvLSTM3D", (3, 4, 5, 4, 2), dict(filters=2, kernel_size=2, padding="same", return_sequences=True)),
    ("ConvLSTM3D", (3, 5, 4, 6, 1), dict(filters=2, kernel_size=(1, 2, 3), strides=(1, 2, 1),
                                         return_state=True)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_parity(K, dtype, case, rng):
    cls, shape, kw = CASES[case]
    layer = keras_layer(K, cls, shape, dtype, rng, **kw)
    module = kt.from_keras(layer)
    assert type(module) is getattr(kt, cls)
    assert module.count_params() == layer.count_params()
    for a, b in zip(module.get_keras_weights(), layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((3, *shape)).astype(dtype)
    kt.testing.assert_keras_parity(layer, module, x)
    kt.testing.assert_keras_parity(layer, module, x, mask=holey_mask(3, shape[0]))
    out = module(torch.from_numpy(x))
    assert (out[0] if isinstance(out, tuple) else out).dtype == torch_dtype(dtype)


def test_hard_sigmoid_is_the_generations_own(keras3, tfk, rng):
    """tf-keras's ConvLSTM default recurrent_activation is its 0.2-slope hard_sigmoid; Keras 3's
    hard_sigmoid is x/6 + 1/2: the same config name gives each generation's numbers."""
    x = rng.standard_normal((2, 3, 6, 6, 2)).astype("float32")
    outs = []
    for K in (tfk, keras3):
        layer = keras_layer(K, "ConvLSTM2D", x.shape[1:], "float32", rng, filters=2, kernel_size=3,
                            recurrent_activation="hard_sigmoid")
        module = kt.from_keras(layer)
        kt.testing.assert_keras_parity(layer, module, x)
        outs.append(module)
    assert outs[0].cell.recurrent_activation is not outs[1].cell.recurrent_activation
    assert tfk.layers.ConvLSTM2D(2, 3).get_config()["recurrent_activation"] == "hard_sigmoid"
    assert kt.ConvLSTM2D(2, 3).cell.recurrent_activation.name == "sigmoid"  # Keras 3's default


@pytest.mark.parametrize("dtype", DTYPES)
def test_channels_first(K, dtype, rng):
    """Keras's channels_first, computed by Keras's channels_last layer on the transposed input
    (TensorFlow's CPU has no NCHW convolution here); states and outputs channels-first too."""
    kw = dict(filters=3, kernel_size=(3, 2), padding="same", strides=(1, 2), return_sequences=True,
              return_state=True)
    last = keras_layer(K, "ConvLSTM2D", (4, 7, 6, 2), dtype, rng, **kw)
    first = K.layers.ConvLSTM2D(dtype=dtype, data_format="channels_first", **kw)
    first.build((None, 4, 2, 7, 6))
    first.set_weights(last.get_weights())
    module = kt.from_keras(first)
    assert module.data_format == "channels_first"
    x = rng.standard_normal((2, 4, 2, 7, 6)).astype(dtype)
    h0 = rng.standard_normal((2, 3, 7, 3)).astype(dtype)
    c0 = rng.standard_normal((2, 3, 7, 3)).astype(dtype)
    to_last = (0, 1, 3, 4, 2)
    tensor = __import__("tensorflow").convert_to_tensor
    seq, h, c = (np.asarray(t) for t in last(tensor(np.transpose(x, to_last)), initial_state=[
        tensor(np.transpose(h0, (0, 2, 3, 1))), tensor(np.transpose(c0, (0, 2, 3, 1)))]))
    want = [np.transpose(seq, (0, 1, 4, 2, 3)), np.transpose(h, (0, 3, 1, 2)), np.transpose(c, (0, 3, 1, 2))]
    with torch.no_grad():
        got = module(torch.from_numpy(x), initial_state=[torch.from_numpy(h0), torch.from_numpy(c0)])
    report = kt.testing.compare_outputs(want, got)
    assert report.ok, str(report)


def test_zero_output_for_mask_keras3(keras3, rng):
    """Keras 3's RNN keyword reaches ConvLSTM (through **kwargs): masked outputs are zeros."""
    layer = keras_layer(keras3, "ConvLSTM2D", (4, 5, 5, 2), "float64", rng, filters=2, kernel_size=3,
                        padding="same", return_sequences=True, zero_output_for_mask=True)
    module = kt.from_keras(layer)
    assert module.zero_output_for_mask
    kt.testing.assert_keras_parity(layer, module, rng.standard_normal((3, 4, 5, 5, 2)), mask=holey_mask(3, 4))


def test_per_position_masks(K, rng, tmp_path):
    """Masking before a ConvLSTM gives a (B, T, *spatial) mask; Keras carries the states position
    by position where it is False. Called directly and through a file of the generation."""
    x = rng.standard_normal((3, 4, 5, 5, 2)).astype("float32")
    x[0, 2] = 0.0
    x[1, 1, 1:3, 2:4] = 0.0
    x[2, 3, :, 1] = 0.0
    layer = keras_layer(K, "ConvLSTM2D", x.shape[1:], "float32", rng, filters=2, kernel_size=3,
                        padding="same", return_sequences=True, return_state=True)
    module = kt.from_keras(layer)
    kt.testing.assert_keras_parity(layer, module, x, mask=np.any(x != 0.0, axis=-1))
    inp = K.Input(x.shape[1:])
    out = K.layers.ConvLSTM2D(2, 3, padding="same", go_backwards=True)(K.layers.Masking(0.0)(inp))
    model = K.Model(inp, out)
    model.layers[-1].set_weights(layer.get_weights())
    path = tmp_path / ("m.keras" if generation(K) == 3 else "m.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.save(str(path))
    got = kt.load_model(path)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_initial_state(K, rng):
    layer = keras_layer(K, "ConvLSTM2D", (3, 6, 6, 2), "float64", rng, filters=3, kernel_size=3,
                        padding="same", strides=2, return_sequences=True, return_state=True)
    module = kt.from_keras(layer)
    x = rng.standard_normal((3, 3, 6, 6, 2))
    states = [rng.standard_normal((3, 3, 3, 3)) for _ in range(2)]
    kt.testing.assert_keras_parity(layer, module, x, initial_state=states)
    # a fully masked row returns the initial state
    kt.testing.assert_keras_parity(layer, module, x, initial_state=states, mask=holey_mask(3, 3))


def test_stateful(K, rng):
    # (float32: tf-keras's stateful ConvLSTM keeps float32 state variables whatever the layer's dtype)
    layer = keras_layer(K, "ConvLSTM1D", (3, 6, 2), "float32", rng, batch=2, filters=2, kernel_size=3,
                        padding="same", stateful=True)
    module = kt.from_keras(layer)
    assert module.stateful
    xs = [rng.standard_normal((2, 3, 6, 2)).astype("float32") for _ in range(3)]
    for i, x in enumerate(xs):
        if i == 2:
            layer.reset_states()
            module.reset_states()
        want = np.asarray(layer(x))
        got = module(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    h, c = (np.asarray(v) for v in layer.states)
    np.testing.assert_allclose(module.states[0].numpy(), h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(module.states[1].numpy(), c, rtol=1e-5, atol=1e-6)
    module.reset_states([h, c])  # in the layer's layout, as tf-keras's reset_states(states)
    np.testing.assert_array_equal(module.states[1].numpy(), c)
    with pytest.raises(ValueError, match="batch size 2 but got batch size 3"):
        module(torch.randn(3, 3, 6, 2))
    with pytest.raises(ValueError, match=r"stateful ConvLSTM1D holds states of shape \(2, 6, 2\) but this input "
                                         r"needs \(2, 7, 2\)"):
        module(torch.randn(2, 3, 7, 2))


def test_dropout_per_gate_masks(K, rng):
    """Keras draws one mask per gate, shaped like a step's input (dropout) or state (recurrent
    dropout): forced to the same arrays, training outputs agree; in eval dropout does nothing."""
    import tensorflow as tf

    kw = dict(filters=3, kernel_size=3, padding="same", dropout=0.4, recurrent_dropout=0.3,
              return_sequences=True)
    layer = keras_layer(K, "ConvLSTM2D", (3, 5, 5, 2), "float64", rng, **kw)
    module = kt.from_keras(layer)
    x = rng.standard_normal((2, 3, 5, 5, 2))
    inp = [(rng.random((2, 5, 5, 2)) > 0.4) / 0.6 for _ in range(4)]
    rec = [(rng.random((2, 5, 5, 3)) > 0.3) / 0.7 for _ in range(4)]
    inp_t, rec_t = [tf.constant(m) for m in inp], [tf.constant(m) for m in rec]
    if generation(K) == 3:  # the cell's cached masks (DropoutRNNCell)
        layer.cell._dropout_mask, layer.cell._recurrent_dropout_mask = inp_t, rec_t
    else:  # tf-keras's DropoutRNNCellMixin getters, called by the cell at every step
        layer.cell.get_dropout_mask_for_cell = lambda inputs, training, count=1: inp_t
        layer.cell.get_recurrent_dropout_mask_for_cell = lambda inputs, training, count=1: rec_t
    want = np.asarray(layer(tf.constant(x), training=True))
    vars(layer.cell).pop("get_dropout_mask_for_cell", None)  # tf-keras: its own getters again
    vars(layer.cell).pop("get_recurrent_dropout_mask_for_cell", None)
    with kt.testing.dropout_masks(module, inputs=inp, recurrent=rec):
        got = module(torch.from_numpy(x), training=True).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    kt.testing.assert_keras_parity(layer, module, x)  # inference: no dropout
    module.train()
    torch.manual_seed(0)
    a = module(torch.from_numpy(x))
    d, r = module._dropout_masks(module._inward(torch.from_numpy(x), 2), training=True)
    assert d.shape == (4, 2, 2, 5, 5) and r.shape == (4, 2, 3, 5, 5)  # (gate, batch, channels, *spatial)
    assert not torch.allclose(a, module.eval()(torch.from_numpy(x)))


@pytest.mark.parametrize("masked", [False, True])
def test_gradients_conv_lstm2d(K, masked, rng):
    layer = keras_layer(K, "ConvLSTM2D", (3, 6, 5, 2), "float64", rng, filters=3, kernel_size=(3, 2),
                        padding="same", strides=(2, 1), return_sequences=True, return_state=True)
    module = kt.from_keras(layer)
    x = rng.standard_normal((3, 3, 6, 5, 2))
    states = [rng.standard_normal((3, 3, 5, 3)) for _ in range(2)]
    kt.testing.assert_keras_gradient_parity(
        layer, module, x, initial_state=states, mask=holey_mask(3, 3) if masked else None
    )


# ---- files and live models ---------------------------------------------------------------------


def _model(K, rng, recurrent_activation="hard_sigmoid"):
    """A small model like real ones: ConvLSTM2D -> BatchNormalization -> ConvLSTM2D -> Dense head."""
    L = K.layers
    inp = K.Input((3, 8, 8, 2))
    y = L.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(inp)
    y = L.BatchNormalization()(y)
    y = L.ConvLSTM2D(3, 3, strides=2, recurrent_activation=recurrent_activation)(y)
    y = L.Flatten()(y)
    out = L.Dense(2)(y)
    model = K.Model(inp, out)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            new = [rng.standard_normal(w.shape).astype("float32") * 0.3 for w in ws]
            if type(layer).__name__ == "BatchNormalization":
                new[3] = rng.uniform(0.5, 2.0, ws[3].shape).astype("float32")
            layer.set_weights(new)
    return model


@pytest.mark.parametrize("maker, fmt", [("keras3", "keras"), ("tfk", "h5"), ("keras3", "h5")])
def test_files(maker, fmt, request, rng, tmp_path):
    """Keras 3 saves the .keras zip (and a legacy .h5), tf-keras the legacy .h5: all load (and convert to code), as
    does the live model."""
    K = request.getfixturevalue(maker)
    model = _model(K, rng)
    path = tmp_path / f"m.{fmt}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf-keras: "HDF5 ... is considered legacy"
        model.save(str(path))
    loaded = kt.load_model(path)
    live = kt.from_keras(model)
    x = rng.standard_normal((2, 3, 8, 8, 2)).astype("float32")
    want = model.predict(x, verbose=0)
    code, _ = save_converted(loaded, tmp_path / "converted", source=path.name)  # `keraslike-torch convert`
    spec = importlib.util.spec_from_file_location(f"converted_{maker}_{fmt}", code)
    written = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(written)
    for ours in (loaded, live, written.load()):
        got = ours(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_tf_keras_savedmodel_directory(tfk, rng, tmp_path):
    inp = tfk.Input((3, 6, 6, 2))
    y = tfk.layers.ConvLSTM2D(3, 3, padding="same", go_backwards=True)(inp)
    model = tfk.Model(inp, tfk.layers.Dense(2)(tfk.layers.Flatten()(y)))
    for layer in model.layers:
        layer.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3 for w in layer.get_weights()])
    model.save(str(tmp_path / "saved"), save_format="tf")
    x = rng.standard_normal((2, 3, 6, 6, 2)).astype("float32")
    got = kt.load_model(tmp_path / "saved")(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_save_keras_round_trip(keras3, tfk, rng, tmp_path):
    """kt.save_keras writes ConvLSTM layers to both formats; Keras loads them with our numbers."""
    model = _model(keras3, rng, "sigmoid")  # (Keras 3's hard_sigmoid has no tf-keras equivalent)
    model.save(str(tmp_path / "m.keras"))
    ours = kt.load_model(tmp_path / "m.keras")
    x = rng.standard_normal((2, 3, 8, 8, 2)).astype("float32")
    want = ours(torch.from_numpy(x)).detach().numpy()
    for name, K in (("back.keras", keras3), ("back.h5", tfk)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            kt.save_keras(ours, tmp_path / name)
            back = K.models.load_model(str(tmp_path / name))
        assert [type(layer).__name__ for layer in back.layers].count("ConvLSTM2D") == 2
        np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    live = kt.to_keras(ours)
    np.testing.assert_allclose(np.asarray(live([x])), want, rtol=1e-5, atol=1e-6)
    # what a format cannot hold is refused, naming the layer and the option
    conv = [m for m in ours.modules() if isinstance(m, kt.ConvLSTM2D)][1]
    conv.stateful = True
    with pytest.raises(kt.converters.UnsupportedLayerError, match=rf"ConvLSTM2D layer '{conv.name}': stateful"):
        kt.save_keras(ours, tmp_path / "stateful.keras")
    conv.stateful = False
    conv.cell.recurrent_activation = kt.activations.get("hard_sigmoid", 2)
    with pytest.raises(kt.converters.UnsupportedLayerError,
                       match=rf"ConvLSTM2D layer '{conv.name}': recurrent_activation is the Keras 2 hard_sigmoid"):
        kt.save_keras(ours, tmp_path / "k2.keras")


@pytest.mark.parametrize("maker, fmt", [("keras3", "keras"), ("tfk", "h5")])
def test_files_conv_lstm1d_and_3d(maker, fmt, request, rng, tmp_path):
    K = request.getfixturevalue(maker)
    L = K.layers
    a, b = K.Input((3, 7, 2)), K.Input((2, 4, 4, 4, 1))
    ya = L.Flatten()(L.ConvLSTM1D(2, 3, padding="same", go_backwards=True)(a))
    yb = L.Flatten()(L.ConvLSTM3D(2, 2, strides=2)(b))
    model = K.Model([a, b], L.Dense(1)(L.Concatenate()([ya, yb])))
    for layer in model.layers:
        layer.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3 for w in layer.get_weights()])
    path = tmp_path / f"m.{fmt}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.save(str(path))
    xs = [rng.standard_normal(s).astype("float32") for s in ((2, 3, 7, 2), (2, 2, 4, 4, 4, 1))]
    got = kt.load_model(path)(*[torch.from_numpy(x) for x in xs]).detach().numpy()
    np.testing.assert_allclose(got, model.predict(xs, verbose=0), rtol=1e-4, atol=1e-5)


# ---- torch-module behaviour ------------------------------------------------------------------


def test_torch_citizen():
    layer = kt.ConvLSTM3D(2, (2, 3, 1), padding="same", return_state=True)
    assert not layer.cell.built
    x = torch.randn(2, 3, 4, 5, 3, 2)
    y, h, c = layer(x)
    assert layer.input_size == 2 and tuple(y.shape) == (2, 4, 5, 3, 2) and torch.equal(y, h)
    assert layer.count_params() == sum(p.numel() for p in layer.parameters()) == 4 * 2 * (6 * 2 + 6 * 2 + 1)
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        torch.testing.assert_close(other(x), layer(x), rtol=0, atol=0)
    fresh = kt.ConvLSTM3D(2, (2, 3, 1), padding="same", return_state=True)
    fresh.load_state_dict(layer.state_dict())  # an unbuilt layer sizes itself from the state dict
    torch.testing.assert_close(fresh(x), layer(x), rtol=0, atol=0)
    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    torch.testing.assert_close(torch.load(buf, weights_only=False)(x), layer(x), rtol=0, atol=0)
    twin = layer.clone()
    twin.set_keras_weights(layer.get_keras_weights())
    torch.testing.assert_close(twin(x), layer(x), rtol=0, atol=0)
    assert layer.double()(x.double())[0].dtype == torch.float64
    # unit_forget_bias: the forget block starts at one
    b = kt.ConvLSTM1D(3, 2, input_size=4).get_keras_weights()[2]
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_autocast_meta_device_and_export():
    layer = kt.ConvLSTM2D(3, 3, padding="same", return_sequences=True, return_state=True, input_size=2)
    x = torch.randn(2, 4, 6, 6, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as the layer cast .to(bfloat16), like torch.nn.LSTM
        got = layer(x)
    want = copy.deepcopy(layer).to(torch.bfloat16)(x.to(torch.bfloat16))
    assert got[0].dtype == torch.bfloat16
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with torch.device("meta"):
        meta = kt.ConvLSTM2D(3, 3, padding="same", return_sequences=True, return_state=True, input_size=2)
    meta.to_empty(device="cpu")
    meta.load_state_dict(layer.state_dict())
    for a, b in zip(meta(x), layer(x), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    program = torch.export.export(layer, (x,))
    for a, b in zip(program.module()(x), layer(x), strict=True):
        torch.testing.assert_close(a, b)


def test_training_step_reaches_every_weight():
    layer = kt.ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    x = torch.randn(2, 4, 6, 6, 2, requires_grad=True)
    layer(x).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0


# ---- errors ------------------------------------------------------------------------------------


def test_config_errors_name_the_layer_and_option():
    base = {"name": "cl", "filters": 2, "kernel_size": [3, 3]}
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM2D layer 'cl': padding='causal'"):
        convert_layer("ConvLSTM2D", {**base, "padding": "causal"})
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM2D layer 'cl': time_major=True"):
        convert_layer("ConvLSTM2D", {**base, "time_major": True})
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM2D layer 'cl': nb_filter=2 .*Keras 1"):
        convert_layer("ConvLSTM2D", {"name": "cl", "nb_filter": 2, "nb_row": 3, "nb_col": 3})
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM3D layer 'cl': unsupported config option.*'mystery'"):
        convert_layer("ConvLSTM3D", {**base, "kernel_size": 2, "mystery": 1})
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM1D layer 'cl': ConvLSTM1D: kernel_size must be"):
        convert_layer("ConvLSTM1D", base)
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM2D layer 'cl': ConvLSTM2D: strides > 1"):
        convert_layer("ConvLSTM2D", {**base, "strides": 2, "dilation_rate": 2})
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM2D layer 'cl' has no 'kernel_size'"):
        convert_layer("ConvLSTM2D", {"name": "cl", "filters": 2})
    with pytest.raises(UnsupportedLayerError, match=r"ConvLSTM2D layer 'cl': .*data_format='channels_middle'"):
        convert_layer("ConvLSTM2D", {**base, "data_format": "channels_middle"})
    m = convert_layer("ConvLSTM2D", {**base, "kernel_regularizer": {"class_name": "L2"},
                                     "recurrent_constraint": None, "seed": 3, "unroll": True})
    assert m.filters == 2  # regularizers / constraints are training-time terms, ignored as elsewhere
    with pytest.raises(TypeError, match=r"Bidirectional\(ConvLSTM1D/2D/3D\)"):
        kt.Bidirectional(kt.ConvLSTM2D(2, 3))


def test_call_errors_name_the_layer():
    layer = kt.ConvLSTM2D(2, 3, return_state=True)
    with pytest.raises(ValueError, match=r"ConvLSTM2D expects a 5-D input \(batch, time, \*spatial, channels\)"):
        layer(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"ConvLSTM2D: an input of spatial shape \(2, 5\) is too small"):
        layer(torch.zeros(1, 2, 2, 5, 3))
    layer(torch.zeros(1, 2, 5, 5, 3))
    with pytest.raises(ValueError, match="ConvLSTM2D expects 3 input channels, got 4"):
        layer(torch.zeros(1, 2, 5, 5, 4))
    with pytest.raises(ValueError, match=r"ConvLSTM2D: initial_state\[1\] must have shape \(1, 3, 3, 2\)"):
        layer(torch.zeros(1, 2, 5, 5, 3), initial_state=[torch.zeros(1, 3, 3, 2), torch.zeros(1, 3, 2, 2)])
    with pytest.raises(ValueError, match=r"ConvLSTM2D takes 2 initial state tensors \[h, c\]"):
        layer(torch.zeros(1, 2, 5, 5, 3), initial_state=torch.zeros(1, 3, 3, 2))
    with pytest.raises(ValueError, match=r"ConvLSTM2D: a per-position mask of shape \(1, 2, 5, 5\) needs states of"):
        layer(torch.zeros(1, 2, 5, 5, 3), mask=torch.ones(1, 2, 5, 5, dtype=torch.bool))  # padding='valid'
    with pytest.raises(ValueError, match=r"ConvLSTM2D: mask must have shape \(batch, time\) = \(1, 2\) or"):
        layer(torch.zeros(1, 2, 5, 5, 3), mask=torch.ones(1, 2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"ConvLSTM2D: strides > 1 is not supported with dilation_rate > 1"):
        kt.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"ConvLSTM3D: padding must be 'valid' or 'same'"):
        kt.ConvLSTM3D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"ConvLSTM2D: data_format must be"):
        kt.ConvLSTM2D(2, 3, data_format="nhwc")
    before = layer.get_keras_weights()
    bad = [np.zeros((3, 3, 3, 8)), np.zeros((3, 3, 2, 8)), np.zeros(7)]
    label = r"ConvLSTM2D\(filters=2, kernel_size=\(3, 3\), use_bias=True\)"
    with pytest.raises(ValueError, match=label + " expects 3 weights"):
        layer.set_keras_weights(bad)
    for a, b in zip(layer.get_keras_weights(), before):
        np.testing.assert_array_equal(a, b)  # atomic: nothing changed
    with pytest.raises(ValueError, match="rank must be 1, 2 or 3"):
        ConvLSTMCell(4, 2, 3)
