"""kt.RNN with the public cells (kt.LSTMCell, kt.GRUCell, kt.SimpleRNNCell) and kt.StackedRNNCells
against Keras's RNN with the same cells, both generations (Keras 3 and tf-keras), float32 and
float64: outputs, states, masks with holes, initial states, go_backwards, stateful, unroll,
dropout, gradients, Bidirectional, and the files (.keras, legacy .h5, JSON + weights, live)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from kutil import generation, torch_dtype

import keraslike_torch as kt
from keraslike_torch.converters import UnsupportedLayerError, convert_layer

TOL = {"float32": dict(atol=2e-5, rtol=1e-4), "float64": dict(atol=1e-11, rtol=1e-9)}

# (Keras cell class, units, keywords) per case; "stack" runs three cells as one
CASES = {
    "lstm": [("LSTMCell", 5, {})],
    "gru_v1": [("GRUCell", 4, {"reset_after": False})],
    "simple_relu": [("SimpleRNNCell", 3, {"activation": "relu"})],
    "stack": [("LSTMCell", 5, {}), ("GRUCell", 4, {}), ("SimpleRNNCell", 3, {})],
}


def _keras_cell(K, cls, units, dtype, kw):
    if cls == "GRUCell" and generation(K) == 2 and "reset_after" not in kw:
        kw = {**kw, "reset_after": True}
    return getattr(K.layers, cls)(units, dtype=dtype, **kw)


def keras_rnn(K, specs, features, dtype, rng, batch=None, steps=None, **kw):
    """A built Keras RNN over the cells ``specs`` with random (not initializer-drawn) weights."""
    cells = [_keras_cell(K, c, u, dtype, ckw) for c, u, ckw in specs]
    cell = cells[0] if len(cells) == 1 else K.layers.StackedRNNCells(cells, dtype=dtype)
    layer = K.layers.RNN(cell, dtype=dtype, **kw)
    layer.build((batch, steps, features))
    layer.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(dtype) for w in layer.get_weights()])
    return layer


def ours_rnn(specs, dtype, keras_version=3, **kw):
    cells = []
    for cls, units, ckw in specs:
        cells.append(getattr(kt, cls)(units, dtype=torch_dtype(dtype), keras_version=keras_version, **ckw))
    return kt.RNN(cells[0] if len(cells) == 1 else kt.StackedRNNCells(cells), **kw)


def flat(out):
    import tensorflow as tf

    return [np.asarray(a) for a in tf.nest.flatten(out)]


def assert_close(keras_out, ours_out, dtype):
    ours_out = ours_out if isinstance(ours_out, (list, tuple)) else [ours_out]
    assert len(keras_out) == len(ours_out)
    for a, b in zip(keras_out, ours_out):
        np.testing.assert_allclose(b.detach().numpy(), a, **TOL[dtype])


def holes_mask(batch, steps):
    m = np.ones((batch, steps), bool)
    m[0, :2] = False  # pre-padding
    m[1, 3] = False  # a hole
    m[2, -2:] = False  # post-padding
    return m


# ---- parity of the layer ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_rnn_cells_parity(K, case, dtype, rng):
    """Outputs and every state (flattened as Keras returns them), unmasked, and with a mask with
    holes plus given initial states; go_backwards for the GRU(reset_after=False) and the stack."""
    specs = CASES[case]
    b, t, d = 3, 6, 4
    kw = dict(return_sequences=True, return_state=True, go_backwards=case in ("gru_v1", "stack"),
              zero_output_for_mask=case == "stack")
    layer = keras_rnn(K, specs, d, dtype, rng, **kw)
    ours = ours_rnn(specs, dtype, **kw)
    ours.set_keras_weights(layer.get_weights())
    assert ours.count_params() == layer.count_params()
    x = rng.standard_normal((b, t, d)).astype(dtype)
    ref = flat(layer(x))
    assert_close(ref, ours(torch.from_numpy(x)), dtype)
    live = kt.from_keras(layer)  # the live layer's config and weights, through the converters
    assert type(live.cell) is type(ours.cell) and live.cell.weight_hh.dtype == torch_dtype(dtype)
    assert_close(ref, live(torch.from_numpy(x)), dtype)
    sizes = [u for c, u, _ in specs for _ in range(2 if c == "LSTMCell" else 1)]
    states = [rng.standard_normal((b, u)).astype(dtype) for u in sizes]
    mask = holes_mask(b, t)
    import tensorflow as tf

    tensors = [tf.constant(s) for s in states]  # tf-keras takes no numpy states
    keras_states = tensors if len(specs) == 1 else _nest_states(specs, tensors)
    ref = flat(layer(tf.constant(x), mask=tf.constant(mask), initial_state=keras_states))
    got = ours(torch.from_numpy(x), mask=torch.from_numpy(mask), initial_state=[torch.from_numpy(s) for s in states])
    assert_close(ref, got, dtype)


def _nest_states(specs, states):
    """Keras's nesting of a stack's states: a list per LSTMCell, a tensor per one-state cell."""
    out, k = [], 0
    for cls, _, _ in specs:
        n = 2 if cls == "LSTMCell" else 1
        out.append(states[k: k + n] if n > 1 else states[k])
        k += n
    return out


def test_stateful_and_unroll(K, rng):
    b, t, d = 2, 5, 3
    specs = CASES["stack"]
    layer = keras_rnn(K, specs, d, "float64", rng, batch=b, steps=t, stateful=True, unroll=True,
                      return_sequences=True)
    ours = ours_rnn(specs, "float64", stateful=True, unroll=True, return_sequences=True)
    ours.set_keras_weights(layer.get_weights())
    for _ in range(2):  # the second call starts from the states the first left
        x = rng.standard_normal((b, t, d))
        assert_close(flat(layer(x)), ours(torch.from_numpy(x)), "float64")
    assert len(ours.states) == 4 and [tuple(s.shape) for s in ours.states] == [(2, 5), (2, 5), (2, 4), (2, 3)]
    ours.reset_states()
    import tensorflow as tf

    for v in tf.nest.flatten(layer.states):  # Keras 3's reset_states() fails on a stack's nested states
        v.assign(tf.zeros_like(v))
    x = rng.standard_normal((b, t, d))
    assert_close(flat(layer(x)), ours(torch.from_numpy(x)), "float64")


def test_rnn_lstm_cell_runs_the_fused_kernel_as_lstm(monkeypatch):
    """RNN(LSTMCell()) with the default activations takes the same fused kernel as kt.LSTM (same
    numbers, bit for bit); a stack runs each member on its own path."""
    import keraslike_torch.recurrent.rnn as rec

    calls: list[str] = []
    monkeypatch.setattr(rec, "scan", lambda *a, orig=rec.scan, **k: calls.append("runner") or orig(*a, **k))
    monkeypatch.setattr(rec, "fused_call", lambda *a, orig=rec.fused_call, **k: calls.append("fused") or orig(*a, **k))
    x = torch.randn(2, 5, 3)
    generic = kt.RNN(kt.LSTMCell(4), return_sequences=True)
    family = kt.LSTM(4, return_sequences=True)
    generic(x)
    assert calls == ["fused"]
    family.set_keras_weights(generic.get_keras_weights())
    assert torch.equal(generic(x), family(x))
    calls.clear()
    stack = kt.RNN(kt.StackedRNNCells([kt.LSTMCell(4), kt.LSTMCell(3, recurrent_activation="hard_sigmoid"),
                                       kt.GRUCell(2)]))
    stack(x)
    assert calls == ["fused", "runner", "fused"]


@pytest.mark.parametrize("gen", ["keras3", "tf_keras"])
def test_stacked_gradients_match_keras(gen, request, rng):
    """Backward through a stack (a fused member, a runner member, masked with a hole): gradients
    of the input, of the initial states and of every weight equal tf.GradientTape's."""
    tf = request.getfixturevalue("tf")
    K = request.getfixturevalue("keras3" if gen == "keras3" else "tfk")
    specs = [("LSTMCell", 4, {}), ("GRUCell", 3, {"recurrent_activation": "hard_sigmoid"}), ("SimpleRNNCell", 2, {})]
    b, t, d = 3, 5, 3
    layer = keras_rnn(K, specs, d, "float64", rng, return_sequences=True)
    ours = ours_rnn(specs, "float64", generation(K), return_sequences=True)  # hard_sigmoid differs
    ours.set_keras_weights(layer.get_weights())
    x = rng.standard_normal((b, t, d))
    mask = holes_mask(b, t)
    w = rng.standard_normal((b, t, 2))
    h0 = rng.standard_normal((b, 4))
    xv, hv = tf.Variable(x), tf.Variable(h0)
    with tf.GradientTape() as tape:
        y = layer(xv, mask=mask, initial_state=[[hv, tf.zeros((b, 4), "float64")], tf.zeros((b, 3), "float64"),
                                                tf.zeros((b, 2), "float64")])
        loss = tf.reduce_sum(y * w)
    grads = tape.gradient(loss, [xv, hv, *layer.trainable_weights])
    xt = torch.from_numpy(x).requires_grad_()
    ht = torch.from_numpy(h0).requires_grad_()
    zeros = [torch.zeros(b, u, dtype=torch.float64) for u in (4, 3, 2)]
    yt = ours(xt, mask=torch.from_numpy(mask), initial_state=[ht, *zeros])
    (yt * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), grads[0].numpy(), atol=1e-10)
    np.testing.assert_allclose(ht.grad.numpy(), grads[1].numpy(), atol=1e-10)
    ours_w = ours.cell.keras_gradients()
    assert len(ours_w) == len(grads) - 2 == 9
    for g_ours, g_keras in zip(ours_w, grads[2:]):
        np.testing.assert_allclose(g_ours.numpy(), np.asarray(g_keras), atol=1e-10)


def test_bidirectional_stack_parity(K, rng):
    """Bidirectional(RNN(StackedRNNCells)) with a mask with holes: outputs and the states of both
    directions (forward stack's, then backward stack's), float64."""
    specs = [("LSTMCell", 4, {}), ("GRUCell", 3, {})]
    b, t, d = 3, 6, 2
    cells = [_keras_cell(K, c, u, "float64", ckw) for c, u, ckw in specs]
    layer = K.layers.Bidirectional(K.layers.RNN(K.layers.StackedRNNCells(cells, dtype="float64"),
                                                return_sequences=True, return_state=True, dtype="float64"),
                                   dtype="float64")
    layer.build((None, None, d))
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    ours = kt.Bidirectional(ours_rnn(specs, "float64", return_sequences=True, return_state=True))
    ours.set_keras_weights(layer.get_weights())
    import tensorflow as tf

    x, mask = rng.standard_normal((b, t, d)), holes_mask(b, t)
    ref = flat(layer(tf.constant(x), mask=tf.constant(mask)))
    got = ours(torch.from_numpy(x), mask=torch.from_numpy(mask))
    assert len(ref) == 7
    assert_close(ref, got, "float64")


# ---- dropout: Keras keeps the rates on the cell ----------------------------------------------------


def test_cell_dropout_training_parity_with_keras_masks(keras3, rng):
    """RNN(LSTMCell(dropout=..., recurrent_dropout=...)): in training, given Keras's own masks,
    the numbers are Keras's; in inference dropout has no effect."""
    b, t, d, u = 3, 5, 4, 3
    specs = [("LSTMCell", u, {"dropout": 0.3, "recurrent_dropout": 0.4})]
    layer = keras_rnn(keras3, specs, d, "float64", rng, return_sequences=True)
    ours = ours_rnn(specs, "float64", return_sequences=True)
    ours.set_keras_weights(layer.get_weights())
    assert (ours.dropout, ours.recurrent_dropout, ours.implementation) == (0.3, 0.4, 1)
    inp = [((rng.random((b, d)) >= 0.3) / 0.7) for _ in range(4)]
    rec = [((rng.random((b, u)) >= 0.4) / 0.6) for _ in range(4)]
    layer.cell._dropout_mask, layer.cell._recurrent_dropout_mask = inp, rec
    x = rng.standard_normal((b, t, d))
    with kt.testing.dropout_masks(ours, inp, rec):
        got = ours(torch.from_numpy(x), training=True)
    ref = np.asarray(layer(x, training=True))
    np.testing.assert_allclose(got.detach().numpy(), ref, atol=1e-11)
    ours.eval()
    plain = keras_rnn(keras3, [("LSTMCell", u, {})], d, "float64", rng, return_sequences=True)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(ours(torch.from_numpy(x)).detach().numpy(), np.asarray(plain(x)), atol=1e-11)
    assert not np.allclose(ref, np.asarray(plain(x)))  # the masks mattered


def test_stacked_dropout_masks_per_member(monkeypatch):
    """Each member draws its own masks from its own rates, for its own input: one input mask per
    sequence (B, d) of 0 and 1/(1-rate); per-gate recurrent masks with recurrent dropout."""
    import keraslike_torch.recurrent.rnn as rec

    drawn = []
    orig = rec.RNN._dropout_masks

    def spy(self, x, training, cell=None):
        out = orig(self, x, training, cell)
        drawn.append((cell, *out))
        return out

    monkeypatch.setattr(rec.RNN, "_dropout_masks", spy)
    first, second = kt.LSTMCell(6, dropout=0.5), kt.GRUCell(4, recurrent_dropout=0.25)
    layer = kt.RNN(kt.StackedRNNCells([first, second]), return_sequences=True)
    x = torch.randn(64, 7, 5)
    y_eval = layer.eval()(x)
    assert all(d is None and r is None for _, d, r in drawn)
    drawn.clear()
    y_train = layer.train()(x)
    (c1, d1, r1), (c2, d2, r2) = drawn
    assert c1 is first and c2 is second and r1 is None and d2 is None
    assert tuple(d1.shape) == (64, 5) and set(d1.unique().tolist()) == {0.0, 2.0}
    assert abs(float((d1 == 0).float().mean()) - 0.5) < 0.1
    assert tuple(r2.shape) == (3, 64, 4) and torch.allclose(r2.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert not torch.allclose(y_eval, y_train)
    with pytest.raises(ValueError, match="StackedRNNCells: give dropout to the cells"):
        kt.RNN(kt.StackedRNNCells([kt.LSTMCell(2)]), dropout=0.2)
    with pytest.raises(ValueError, match=r"recurrent_dropout must be in \[0, 1\)"):
        kt.GRUCell(2, recurrent_dropout=1.0)


# ---- Bidirectional, files and live objects --------------------------------------------------------


def _keras_model(K, rng):
    """Masking (pre-padding, a hole) -> RNN(stack) with states; RNN(LSTMCell);
    Bidirectional(RNN(GRUCell)) with a mask; random weights."""
    inp = K.Input((6, 3), name="x")
    masked = K.layers.Masking(0.0)(inp)
    stack = K.layers.StackedRNNCells([K.layers.LSTMCell(4), _keras_cell(K, "GRUCell", 3, "float32", {}),
                                      K.layers.SimpleRNNCell(2)])
    seq, *states = K.layers.RNN(stack, return_sequences=True, return_state=True, name="stacked")(masked)
    import tensorflow as tf

    states = tf.nest.flatten(states)
    single = K.layers.RNN(K.layers.LSTMCell(3, dropout=0.2), go_backwards=True, name="single")(inp)
    bi = K.layers.Bidirectional(K.layers.RNN(_keras_cell(K, "GRUCell", 2, "float32", {"reset_after": False}),
                                             return_sequences=True), name="bi")(masked)
    model = K.Model(inp, [seq, *states, single, bi])
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in model.get_weights()])
    return model


def _inputs(rng):
    x = rng.standard_normal((3, 6, 3)).astype("float32")
    x[0, :2] = 0.0
    x[1, 3] = 0.0
    x[2, -1] = 0.0
    return x


@pytest.fixture(scope="module", params=["keras3", "tf_keras"])
def saved(request, tmp_path_factory):
    K = request.getfixturevalue("keras3" if request.param == "keras3" else "tfk")
    rng = np.random.default_rng(7)
    model = _keras_model(K, rng)
    folder = tmp_path_factory.mktemp(request.param)
    x = _inputs(rng)
    if request.param == "keras3":
        full, weights = folder / "m.keras", folder / "m.weights.h5"
    else:
        full, weights = folder / "m.h5", folder / "w.h5"
    model.save(full)
    model.save_weights(weights)
    return dict(model=model, x=x, ref=[np.asarray(a) for a in model.predict(x, verbose=0)],
                full=full, weights=weights, json=model.to_json(), gen=request.param)


@pytest.mark.parametrize("route", ["load_model", "json_and_weights", "from_keras"])
def test_files_and_live(saved, route):
    """Keras 3 .keras / tf-keras .h5 (kt.load_model), the architecture JSON + the weights file,
    and the live model: all give Keras's predict (also through Bidirectional(RNN(GRUCell)))."""
    if route == "load_model":
        model = kt.load_model(saved["full"])
    elif route == "json_and_weights":
        model = kt.model_from_json(saved["json"])
        kt.load_weights(model, saved["weights"])
    else:
        model = kt.from_keras(saved["model"])
    got = model(torch.from_numpy(saved["x"]))
    assert len(got) == len(saved["ref"]) == 7
    assert_close(saved["ref"], got, "float32")
    layers = dict(model.keras_layers())
    assert isinstance(layers["stacked"].cell, kt.StackedRNNCells)
    assert layers["single"].cell.dropout == pytest.approx(0.2)
    assert isinstance(layers["bi"].forward_layer.cell, kt.GRUCell)


def test_keras3_legacy_h5(keras3, tmp_path, rng):
    """Keras 3's legacy writer (``model.save("x.h5")``) of the same model."""
    model = _keras_model(keras3, rng)
    model.save(tmp_path / "m.h5")
    x = _inputs(rng)
    got = kt.load_model(tmp_path / "m.h5")(torch.from_numpy(x))
    assert_close([np.asarray(a) for a in model(x)], got, "float32")


def test_keras_2_2_4_style_config(tfk, rng):
    """An RNN(StackedRNNCells) config as Keras 2.2.4 wrote it (initializers as VarianceScaling
    configs, no dtype policies, implementation on the cells, no reset_after before 2.1.3)."""
    init = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
                                                         "distribution": "uniform", "seed": None}}
    cell = {"units": 3, "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
            "kernel_initializer": init, "recurrent_initializer": {"class_name": "Orthogonal",
                                                                  "config": {"gain": 1.0, "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
            "recurrent_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
            "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0,
            "implementation": 1, "trainable": True, "name": "c"}
    config = {"name": "rnn_1", "trainable": True, "return_sequences": True, "return_state": False,
              "go_backwards": False, "stateful": False, "unroll": False,
              "cell": {"class_name": "StackedRNNCells", "config": {"name": "stacked_rnn_cells_1", "cells": [
                  {"class_name": "LSTMCell", "config": {**cell, "name": "lstm_cell_1", "unit_forget_bias": True}},
                  {"class_name": "GRUCell", "config": {**cell, "name": "gru_cell_1"}}]}}}
    ours = convert_layer("RNN", config, kt.converters.ConvertContext(keras_version=2))
    assert [type(c).__name__ for c in ours.cell.members] == ["LSTMCell", "GRUCell"]
    assert ours.cell.members[1].reset_after is False
    ref = tfk.layers.RNN(tfk.layers.StackedRNNCells([
        tfk.layers.LSTMCell(3, recurrent_activation="hard_sigmoid"),
        tfk.layers.GRUCell(3, recurrent_activation="hard_sigmoid", reset_after=False)]), return_sequences=True)
    ref.build((None, None, 2))
    ref.set_weights([rng.standard_normal(w.shape).astype("float32") for w in ref.get_weights()])
    ours.set_keras_weights(ref.get_weights())
    x = rng.standard_normal((2, 4, 2)).astype("float32")
    assert_close([np.asarray(ref(x))], ours(torch.from_numpy(x)), "float32")


# ---- errors -------------------------------------------------------------------------------------


def test_errors_name_the_layer_and_option(tmp_path):
    lstm = {"class_name": "LSTMCell", "config": {"units": 2, "name": "c"}}
    with pytest.raises(UnsupportedLayerError, match=r"RNN layer 'r'.*cell class 'MyPeepholeCell' is not supported"):
        convert_layer("RNN", {"name": "r", "cell": {"class_name": "MyPeepholeCell", "config": {"units": 2},
                                                   "registered_name": "MyPeepholeCell"}})
    with pytest.raises(UnsupportedLayerError, match=r"RNN layer 'r'.*num_constants"):
        convert_layer("RNN", {"name": "r", "cell": lstm, "num_constants": 1})
    with pytest.raises(UnsupportedLayerError, match=r"LSTMCell layer 'c'.*peephole"):
        convert_layer("RNN", {"name": "r", "cell": {"class_name": "LSTMCell",
                                                   "config": {"units": 2, "name": "c", "peephole": True}}})
    with pytest.raises(UnsupportedLayerError, match=r"StackedRNNCells layer 's'.*cell class 'Dense'"):
        convert_layer("RNN", {"name": "r", "cell": {"class_name": "StackedRNNCells", "config": {
            "name": "s", "cells": [lstm, {"class_name": "Dense", "config": {"units": 2}}]}}})
    with pytest.raises(UnsupportedLayerError, match=r"RNN layer 'r' has no 'cell'"):
        convert_layer("RNN", {"name": "r"})
    with pytest.raises(TypeError, match=r"StackedRNNCells: cells\[1\] must be an LSTMCell"):
        kt.StackedRNNCells([kt.LSTMCell(2), torch.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match=r"cells\[1\] takes 5 input features but cells\[0\] outputs 2"):
        kt.StackedRNNCells([kt.LSTMCell(2), kt.GRUCell(3, input_size=5)])
    stack = kt.RNN(kt.StackedRNNCells([kt.LSTMCell(2), kt.GRUCell(3)]))
    with pytest.raises(ValueError, match=r"takes 3 initial state tensor\(s\).*of shapes \(4, 2\), \(4, 2\), \(4, 3\)"):
        stack(torch.zeros(4, 5, 1), initial_state=[torch.zeros(4, 2)])
    with pytest.raises(kt.porting.export.ExportError, match=r"RNN module 'r' has no Keras equivalent"):
        kt.save_keras(kt.RNN(kt.LSTMCell(2, input_size=1), name="r"), tmp_path / "x.keras")
    assert list(tmp_path.iterdir()) == []


# ---- a plain torch citizen --------------------------------------------------------------------------


def test_stack_is_a_torch_citizen():
    torch.manual_seed(0)
    layer = kt.RNN(kt.StackedRNNCells([kt.LSTMCell(3), kt.GRUCell(2)]), return_sequences=True)
    x = torch.randn(2, 4, 5)
    assert not layer.cell.built
    y = layer(x)
    assert layer.cell.built and layer.count_params() == sum(p.numel() for p in layer.parameters())
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert torch.equal(other(x), y)
    fresh = kt.RNN(kt.StackedRNNCells([kt.LSTMCell(3), kt.GRUCell(2)]), return_sequences=True)
    fresh.load_state_dict(layer.state_dict())  # builds the unbuilt stack from the state dict
    assert torch.equal(fresh(x), y)
    weights = layer.get_keras_weights()
    assert [w.shape for w in weights] == [(5, 12), (3, 12), (12,), (3, 6), (2, 6), (2, 6)]
    bad = [w.copy() for w in weights]
    bad[0] += 1.0
    bad[4] = np.zeros((3, 6), np.float32)  # the GRU's recurrent kernel: wrong shape
    with pytest.raises(ValueError, match=r"GRU\(units=2"):
        layer.set_keras_weights(bad)
    assert torch.equal(layer(x), y)  # atomic: the LSTM cell kept its weights
    clone = layer.clone()
    assert clone.cell is not layer.cell and not torch.equal(clone(x), y)
    one = kt.RNN(kt.StackedRNNCells([kt.LSTMCell(3)]), return_state=True)
    single = kt.RNN(kt.LSTMCell(3), return_state=True)
    one(x)  # builds
    single.set_keras_weights(one.get_keras_weights())
    assert all(torch.equal(a, b) for a, b in zip(one(x), single(x)))  # a stack of one is its cell


def test_layers_pickled_with_rates_on_the_layer_still_load():
    """Before the rates moved to the cell, a layer's __dict__ held them: unpickling moves them."""
    layer = kt.LSTM(2, input_size=3)
    for key, rate in (("dropout", 0.3), ("recurrent_dropout", 0.2)):
        del layer.cell.__dict__[key]
        layer.__dict__[key] = rate
    old = pickle.loads(pickle.dumps(layer))
    assert (old.dropout, old.recurrent_dropout) == (old.cell.dropout, old.cell.recurrent_dropout) == (0.3, 0.2)
    assert "dropout" not in old.__dict__
