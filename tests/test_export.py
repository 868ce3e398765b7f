"""kt.save_keras / kt.to_keras: Keras file -> kt -> SGD steps in torch -> Keras file -> Keras
loads it -> outputs equal torch's; kt-built layers -> Keras; refusals; no TensorFlow at write time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import keraslike_torch as kt
from keraslike_torch.porting.export import ExportError

TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)}


def _mixed(K, dtype, state_on_mask=True):
    """Two inputs, two outputs: Masking and Embedding(mask_zero) masks, LSTM return_state, a GRU
    taking the LSTM's state as initial_state, SimpleRNN, Bidirectional, TimeDistributed(Dense),
    Concatenate, Add, Dropout."""
    L = K.layers
    i = K.Input((5, 3), name="x", dtype=dtype)
    t = K.Input((5,), dtype="int32", name="tok")
    e = L.Embedding(10, 3, mask_zero=True, name="emb", dtype=dtype)(t)
    m = L.Masking(0.0, dtype=dtype)(i)
    a, h, _ = L.LSTM(4, return_sequences=True, return_state=True, dtype=dtype)(m)
    g = L.GRU(4, return_sequences=True, dtype=dtype)(e, initial_state=[h]) if state_on_mask else \
        L.GRU(4, return_sequences=True, dtype=dtype)(e)
    s = L.SimpleRNN(4, return_sequences=True, dtype=dtype)(g)
    b = L.Bidirectional(L.LSTM(2, return_sequences=True, dtype=dtype), dtype=dtype)(s)
    d = L.TimeDistributed(L.Dense(4, dtype=dtype), dtype=dtype)(b)
    cat = L.Concatenate(dtype=dtype)([a, d])
    ad = L.Add(dtype=dtype)([a, s])
    dr = L.Dropout(0.1, dtype=dtype)(cat)
    o = L.Dense(2, activation="softmax", dtype=dtype)(L.LSTM(3, dtype=dtype)(dr))
    return K.Model([i, t], [o, ad])


def _functional(K, dtype):
    """Several inputs and outputs whose masks do not meet in a merge (merge masks differ by
    generation): Masking -> LSTM states, Embedding(mask_zero) -> GRU, Concatenate, Dense."""
    L = K.layers
    i = K.Input((5, 3), name="x", dtype=dtype)
    t = K.Input((5,), dtype="int32", name="tok")
    _, h, c = L.LSTM(4, return_state=True, dtype=dtype)(L.Masking(0.0, dtype=dtype)(i))
    g = L.GRU(4, dtype=dtype)(L.Embedding(10, 3, mask_zero=True, dtype=dtype)(t))
    o = L.Dense(2, dtype=dtype)(L.Concatenate(dtype=dtype)([h, g]))
    return K.Model([i, t], [o, c])


def _sequential(K, dtype):
    L = K.layers
    return K.Sequential([K.Input((6,), dtype="int32"), L.Embedding(12, 4, mask_zero=True, dtype=dtype),
                         L.Bidirectional(L.GRU(3, return_sequences=True, dtype=dtype), dtype=dtype),
                         L.LSTM(3, dtype=dtype), L.Dense(2, dtype=dtype)])


def _inputs(model_inputs, rng, dtype):
    out = []
    for spec in model_inputs:
        shape = [3, *[d if d is not None else 5 for d in spec.shape[1:]]]
        if "int" in str(spec.dtype):
            x = rng.integers(1, 10, shape).astype("int32")
            x[1, :2] = 0
            x[2, -1] = 0
        else:
            x = rng.standard_normal(shape).astype(dtype)
            x[0, :2] = 0
        out.append(x)
    return out


def _randomize(model, rng, dtype):
    model.set_weights([(rng.standard_normal(w.shape) * 0.3).astype(dtype) for w in model.get_weights()])


def _sgd(module, steps=3):
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    for k in range(steps):
        out = module(*module.example_inputs(4, 5, seed=k))
        out = out if isinstance(out, tuple) else (out,)
        loss = sum(o.pow(2).mean() for o in out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    module.eval()


def _torch_out(module, xs):
    with torch.no_grad():
        out = module(*[torch.as_tensor(x) for x in xs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _load(keras3, tfk, path):
    if str(path).endswith(".keras"):
        return keras3.models.load_model(path, safe_mode=True)
    return tfk.models.load_model(path)


def _assert_same(keras_model, module, xs, dtype):
    got = keras_model(xs if len(xs) > 1 else xs[0], training=False)  # predict() would cast to floatx
    got = [np.asarray(g) for g in (got if isinstance(got, (list, tuple)) else [got])]
    want = _torch_out(module, xs)
    rtol, atol = TOL[dtype]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _source(K, build, dtype, folder, rng):
    model = build(K, dtype)
    _randomize(model, rng, dtype)
    path = folder / ("src.keras" if K.__name__ == "keras" else "src.h5")
    model.save(path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


# ---- Keras -> kt -> SGD in torch -> Keras, the same generation and across ------------------------


@pytest.fixture(scope="module", params=[3, 2], ids=["keras3", "tf_keras"])
def mixed_source(request, keras3, tfk, folder):
    """(generation, a Keras-written file of the mixed graph), once per generation."""
    gen = request.param
    sub = folder / f"mixed{gen}"
    sub.mkdir()
    return gen, _source(keras3 if gen == 3 else tfk, _mixed, "float32", sub, np.random.default_rng(gen))


def test_mixed_graph_round_trip(mixed_source, keras3, tfk):
    gen, src = mixed_source
    module = kt.load_model(src)
    before = [p.detach().clone() for p in module.parameters()]
    _sgd(module)
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    out = src.with_name("out.keras" if gen == 3 else "out.h5")
    kt.save_keras(module, out)
    loaded = _load(keras3, tfk, out)
    _assert_same(loaded, module, _inputs(loaded.inputs, np.random.default_rng(5), "float32"), "float32")
    # across generations the GRU(initial_state=) behind a mask (Keras 3 -> tf-keras) and the
    # merges of differently masked sequences (both ways) compute differently: refused
    other = src.with_name("out.h5" if gen == 3 else "out.keras")
    with pytest.raises(ExportError, match=r"'gru(_\d+)?'.*initial_state.*save to \.keras|differs from the module's"):
        kt.save_keras(module, other)
    assert not other.exists()


@pytest.mark.parametrize("gen", [3, 2])
def test_float64_round_trip(gen, keras3, tfk, folder):
    K = keras3 if gen == 3 else tfk
    sub = folder / f"f64_{gen}"
    sub.mkdir()
    rng = np.random.default_rng(11)
    module = kt.load_model(_source(K, _functional, "float64", sub, rng))
    assert next(module.parameters()).dtype == torch.float64
    _sgd(module)
    out = sub / ("out.keras" if gen == 3 else "out.h5")
    kt.save_keras(module, out)
    loaded = _load(keras3, tfk, out)
    _assert_same(loaded, module, _inputs(loaded.inputs, rng, "float64"), "float64")


def test_keras_trains_from_the_file(keras3, tfk, folder):
    """compile + fit one step works on both written formats."""
    x = np.random.default_rng(0).standard_normal((4, 5, 3)).astype("float32")
    layer = kt.Bidirectional(kt.LSTM(2, input_size=3))
    for name in ("fit.keras", "fit.h5"):
        kt.save_keras(layer, folder / name)
        model = _load(keras3, tfk, folder / name)
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, np.zeros((4, 4), "float32"), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("gen", [3, 2])
def test_across_generations(gen, keras3, tfk, folder, request):
    K = keras3 if gen == 3 else tfk
    rng = np.random.default_rng(7)
    sub = folder / f"x{gen}{request.node.callspec.id}"
    sub.mkdir()
    module = kt.load_model(_source(K, _functional, "float32", sub, rng))
    _sgd(module)
    for name in ("out.keras", "out.h5"):
        kt.save_keras(module, sub / name)
        loaded = _load(keras3, tfk, sub / name)
        _assert_same(loaded, module, _inputs(loaded.inputs, rng, "float32"), "float32")


@pytest.mark.parametrize("gen", [2])
def test_merge_masks_across_generations_are_refused(gen, keras3, tfk, folder):
    """Concatenate of two differently masked sequences: tf-keras ANDs the masks, Keras 3 ORs
    them; the written file would compute other numbers, so nothing is written."""
    K = keras3 if gen == 3 else tfk
    sub = folder / f"merge{gen}"
    sub.mkdir()
    module = kt.load_model(_source(K, lambda K, d: _mixed(K, d, state_on_mask=False), "float32", sub,
                                   np.random.default_rng(1)))
    other = sub / ("out.h5" if gen == 3 else "out.keras")
    with pytest.raises(ExportError, match="differs from the module's"):
        kt.save_keras(module, other)
    assert not other.exists()


# ---- kt-built layers -> Keras -----------------------------------------------------------------------


LAYERS = {
    "lstm": lambda: kt.LSTM(4, input_size=3, return_sequences=True, return_state=True),
    "gru": lambda: kt.GRU(4, input_size=3, reset_after=False, go_backwards=True),
    "simple_rnn": lambda: kt.SimpleRNN(3, input_size=3, activation="relu", use_bias=False),
    "bidirectional": lambda: kt.Bidirectional(kt.LSTM(2, input_size=3, return_sequences=True), merge_mode=None),
    "hard_sigmoid_keras2": lambda: kt.LSTM(2, input_size=3, recurrent_activation="hard_sigmoid_keras2"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_single_layers(kind, dtype, keras3, tfk, folder):
    layer = LAYERS[kind]().to(getattr(torch, dtype))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 3)).astype(dtype)
    for suffix in (".keras", ".h5"):
        path = folder / f"{kind}_{dtype}{suffix}"
        if kind == "hard_sigmoid_keras2" and suffix == ".keras":
            with pytest.raises(ExportError, match=r"LSTM layer .*hard_sigmoid.*slope 0\.2.*\.h5"):
                kt.save_keras(layer, path)
            assert not path.exists()
            continue
        kt.save_keras(layer, path)
        _assert_same(_load(keras3, tfk, path), layer, [x], dtype)


def test_to_keras(keras3, tfk):
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    lstm = kt.LSTM(3, input_size=3)
    live = kt.to_keras(lstm)
    assert type(live).__module__.startswith("keras.") and type(live).__name__ == "LSTM"
    np.testing.assert_allclose(live(x).numpy(), _torch_out(lstm, [x])[0], rtol=1e-5, atol=1e-6)
    old = kt.LSTM(3, input_size=3, recurrent_activation="hard_sigmoid_keras2")
    live2 = kt.to_keras(old)  # needs Keras 2 semantics: tf-keras
    assert type(live2).__module__.startswith("tf_keras.")
    np.testing.assert_allclose(live2(x).numpy(), _torch_out(old, [x])[0], rtol=1e-5, atol=1e-6)
    seq = nn.Sequential(kt.GRU(4, input_size=3, return_sequences=True), kt.SimpleRNN(2))
    model = kt.to_keras(seq, generation=2)
    np.testing.assert_allclose(model.predict(x, verbose=0), _torch_out(seq, [x])[0], rtol=1e-5, atol=1e-6)


# ---- refusals --------------------------------------------------------------------------------------


def test_refusals(folder):
    with pytest.raises(ExportError, match=r"time_major.*Keras 3.*\.h5"):
        kt.save_keras(kt.GRU(2, input_size=3, time_major=True), folder / "tm.keras")
    with pytest.raises(ExportError, match=r"Linear module 'linear'"):
        kt.save_keras(nn.Sequential(kt.LSTM(2, input_size=3), nn.Linear(2, 2)), folder / "lin.keras")
    with pytest.raises(ExportError, match="input feature size is not known"):
        kt.save_keras(kt.LSTM(2), folder / "lazy.keras")
    with pytest.raises(ValueError, match=r"\.keras.*\.h5"):
        kt.save_keras(kt.LSTM(2, input_size=3), folder / "x.pt")
    with pytest.raises(ExportError, match=r"hard_sigmoid \(slope 1/6\).*\.keras"):
        kt.save_keras(kt.LSTM(2, input_size=3, recurrent_activation="hard_sigmoid"), folder / "hs.h5")
    assert not list(folder.glob("tmp*"))  # failed saves leave nothing behind


def test_custom_torch_submodule_is_refused_by_name(folder):
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "LSTM", "config": {"name": "l", "units": 2, "batch_input_shape": [None, 4, 3]}},
        {"class_name": "MyHead", "config": {"name": "head"}}]}}
    model = kt.model_from_config(config, custom_objects={"MyHead": nn.Identity()})
    with pytest.raises(ExportError, match=r"Identity module 'head'"):
        kt.save_keras(model, folder / "custom.keras")


# ---- writing never imports TensorFlow or Keras -------------------------------------------------------


def test_writing_needs_no_tensorflow(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        for name in ("tensorflow", "keras", "tf_keras"):
            sys.modules[name] = None  # any import of them raises ImportError
        import torch, keraslike_torch as kt
        m = kt.Bidirectional(kt.LSTM(3, input_size=2, return_sequences=True))
        kt.save_keras(m, {str(tmp_path / 'a.keras')!r})
        kt.save_keras(m, {str(tmp_path / 'a.h5')!r})
        blocked = ("tensorflow", "keras", "tf_keras")
        assert not [k for k, v in sys.modules.items() if v is not None and k.split(".")[0] in blocked]
        print("ok")
    """)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


# ---- the file is what Keras itself writes, key by key --------------------------------------------


def _strip_ids(value):
    if isinstance(value, dict):
        return {k: _strip_ids(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_strip_ids(v) for v in value]
    return value


def test_file_matches_what_keras_writes(mixed_source, folder):
    """The same architecture and weights written by Keras and by save_keras: equal configs
    (shared_object_id aside), metadata keys, HDF5 trees (attributes, shapes, dtypes)."""
    gen, src = mixed_source
    ours = src.with_name("ours.keras" if gen == 3 else "ours.h5")
    kt.save_keras(kt.load_model(src), ours)
    if gen == 3:
        with zipfile.ZipFile(src) as a, zipfile.ZipFile(ours) as b:
            assert sorted(a.namelist()) == sorted(b.namelist())
            assert json.loads(b.read("config.json")) == _strip_ids(json.loads(a.read("config.json")))
            assert json.loads(b.read("metadata.json")).keys() == json.loads(a.read("metadata.json")).keys()
            src.with_name("a.h5").write_bytes(a.read("model.weights.h5"))
            src.with_name("b.h5").write_bytes(b.read("model.weights.h5"))
        assert _h5_tree(src.with_name("b.h5")) == _h5_tree(src.with_name("a.h5"))
        return
    with h5py.File(src) as a, h5py.File(ours) as b:
        assert json.loads(b.attrs["model_config"]) == json.loads(a.attrs["model_config"])
    assert _h5_tree(ours) == _h5_tree(src)


def _h5_tree(path):
    """Every group's attributes and every dataset's shape and dtype."""
    out = {}
    with h5py.File(path) as f:
        def visit(name, obj):
            attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items() if k != "model_config"}
            out[name] = (attrs, getattr(obj, "shape", None), str(getattr(obj, "dtype", "")))
        f.visititems(visit)
        out[""] = ({k: np.asarray(v).tolist() for k, v in f.attrs.items() if k != "model_config"}, None, "")
    return out


def _other_layers(K, dtype):
    """The remaining supported layers: convolution, pooling, normalization, reshapes, merges."""
    L = K.layers
    x = K.Input((8, 3), dtype=dtype, name="x")
    c = L.Conv1D(4, 3, padding="same", activation="relu", dtype=dtype)(x)
    c = L.BatchNormalization(dtype=dtype)(c)
    c = L.MaxPooling1D(2, dtype=dtype)(c)
    c = L.LayerNormalization(dtype=dtype)(c)
    c = L.AveragePooling1D(2, dtype=dtype)(L.SpatialDropout1D(0.2, dtype=dtype)(c))
    r = L.GRU(4, return_sequences=True, dtype=dtype)(L.GaussianNoise(0.1, dtype=dtype)(c))
    p = L.Permute((2, 1), dtype=dtype)(r)
    merged = [L.Subtract(dtype=dtype)([r, c]), L.Multiply(dtype=dtype)([r, c]), L.Average(dtype=dtype)([r, c]),
              L.Maximum(dtype=dtype)([r, c]), L.Minimum(dtype=dtype)([r, c])]
    g = L.Concatenate(dtype=dtype)([L.GlobalMaxPooling1D(dtype=dtype)(m) for m in merged]
                                   + [L.GlobalAveragePooling1D(dtype=dtype)(p)])
    d = L.Dense(4, dtype=dtype)(L.Activation("tanh", dtype=dtype)(g))
    out = L.Reshape((2, 2), dtype=dtype)(L.Flatten(dtype=dtype)(L.RepeatVector(1, dtype=dtype)(d)))
    return K.Model(x, [out, L.GaussianDropout(0.1, dtype=dtype)(d)])


@pytest.mark.parametrize("gen", [3, 2])
def test_other_layers_round_trip(gen, keras3, tfk, folder):
    K = keras3 if gen == 3 else tfk
    sub = folder / f"other{gen}"
    sub.mkdir()
    rng = np.random.default_rng(4)
    module = kt.load_model(_source(K, _other_layers, "float32", sub, rng))
    _sgd(module, steps=2)
    for name in ("out.keras", "out.h5"):
        kt.save_keras(module, sub / name)
        loaded = _load(keras3, tfk, sub / name)
        _assert_same(loaded, module, _inputs(loaded.inputs, rng, "float32"), "float32")


def _nested_shared(K, dtype):
    """A nested Sequential and a layer shared by two calls."""
    L = K.layers
    inner = K.Sequential([K.Input((5, 3)), L.LSTM(4, return_sequences=True, dtype=dtype), L.Dense(3, dtype=dtype)],
                         name="inner")
    x, y = K.Input((5, 3), name="x"), K.Input((5, 3), name="y")
    shared = L.GRU(2, name="shared", dtype=dtype)
    return K.Model([x, y], L.Concatenate()([shared(inner(x)), shared(y)]))


@pytest.mark.parametrize("gen", [3, 2])
def test_nested_models_and_shared_layers(gen, keras3, tfk, folder):
    K = keras3 if gen == 3 else tfk
    sub = folder / f"nested{gen}"
    sub.mkdir()
    rng = np.random.default_rng(9)
    module = kt.load_model(_source(K, _nested_shared, "float32", sub, rng))
    _sgd(module, steps=2)
    for name in ("out.keras", "out.h5"):
        kt.save_keras(module, sub / name)
        loaded = _load(keras3, tfk, sub / name)
        _assert_same(loaded, module, _inputs(loaded.inputs, rng, "float32"), "float32")


def test_state_on_masked_input_to_keras3_writes_the_mask(tfk, keras3, folder):
    """tf-keras masks GRU(x, initial_state=[h]) with x's Embedding mask, Keras 3 only with an
    explicit mask=: the .keras file records the mask op (NotEqual) as Keras 3 does."""
    L = tfk.layers
    x, t = tfk.Input((5, 3), name="x"), tfk.Input((5,), dtype="int32", name="tok")
    _, h = L.GRU(4, return_state=True)(L.Masking()(x))
    g = L.GRU(4, return_sequences=True)(L.Embedding(10, 3, mask_zero=True)(t), initial_state=[h])
    model = tfk.Model([x, t], L.LSTM(2)(g))
    rng = np.random.default_rng(2)
    _randomize(model, rng, "float32")
    model.save(folder / "state_mask.h5")
    module = kt.load_model(folder / "state_mask.h5")
    _sgd(module)
    kt.save_keras(module, folder / "state_mask.keras")
    loaded = _load(keras3, tfk, folder / "state_mask.keras")
    _assert_same(loaded, module, _inputs(loaded.inputs, rng, "float32"), "float32")
    with zipfile.ZipFile(folder / "state_mask.keras") as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    stated = [e for e in layers if e["class_name"] == "GRU" and "initial_state" in e["inbound_nodes"][0]["kwargs"]]
    assert len(stated) == 1
    mask_op = stated[0]["inbound_nodes"][0]["kwargs"]["mask"]["config"]["keras_history"][0]
    assert next(e for e in layers if e["name"] == mask_op)["class_name"] == "NotEqual"


def test_h5_weight_names_of_the_new_layers_are_tf_keras_own(tfk, tmp_path):
    """save_keras(.h5) names each weight as tf-keras does (convolutions, depthwise/separable
    kernels, PReLU's alpha, ConvLSTM2D's variables on the layer), and tf-keras reloads it."""
    K = tfk
    img = K.Input((6, 6, 2))
    y = K.layers.Conv2D(3, 2, name="conv")(img)
    y = K.layers.DepthwiseConv2D(2, name="depthwise")(y)
    y = K.layers.SeparableConv2D(2, 2, name="separable")(y)
    y = K.layers.Conv2DTranspose(2, 2, name="transpose")(y)
    y = K.layers.PReLU(name="prelu")(y)
    seq = K.Input((3, 5, 5, 2))
    z = K.layers.ConvLSTM2D(2, 3, name="convlstm")(seq)
    model = K.Model([img, seq], [y, z])
    _randomize(model, np.random.default_rng(0), "float32")
    src, out = tmp_path / "src.h5", tmp_path / "out.h5"
    model.save(src)
    kt.save_keras(kt.load_model(src), out)

    def names(path):
        with h5py.File(path, "r") as f:
            g = f["model_weights"]
            return {k: [n.decode() if isinstance(n, bytes) else n for n in g[k].attrs["weight_names"]]
                    for k in g if len(g[k].attrs.get("weight_names", []))}

    assert names(out) == names(src)
    xs = [np.random.default_rng(1).standard_normal((2, *s[1:])).astype("float32") for s in model.input_shape]
    for a, b in zip(tfk.models.load_model(out).predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
