"""Keras files written at test time by Keras 3 and tf-keras, for every supported layer and graph
pattern, in every format each writes; error paths on hand-corrupted files; the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from kutil import generation

import keraslike_torch as kt


def sink_models(K):
    """Models that together use every supported layer class and graph pattern."""
    L = K.layers
    models = {}
    # 1. token ids, pre-padded (Keras's pad_sequences default), Embedding(mask_zero) masks
    ids = K.Input((12,), name="ids")
    e = L.Embedding(30, 8, mask_zero=True, name="emb")(ids)
    e = L.SpatialDropout1D(0.3)(e)
    b = L.Bidirectional(L.LSTM(6, return_sequences=True, recurrent_activation="hard_sigmoid"), name="bi")(e)
    t = L.TimeDistributed(L.Dense(5, activation="tanh"), name="td")(b)
    n = L.LayerNormalization(name="ln")(t)
    g = L.GRU(4, return_sequences=True, reset_after=False, name="gru")(n)
    pooled = L.GlobalAveragePooling1D(name="gap")(g)
    last = L.SimpleRNN(3, activation="relu", name="srnn")(g)
    models["tokens"] = K.Model(ids, [pooled, last])
    # 2. Masking, merges, shared layer, nested model, normalization and noise layers
    x = K.Input((10, 6), name="x")
    m = L.Masking(0.0, name="masking")(x)
    a = L.LSTM(5, return_sequences=True, name="lstm_a")(m)
    c = L.GRU(5, return_sequences=True, name="gru_c")(m)
    shared = L.Dense(5, name="shared")
    merged = [L.Add()([a, c]), L.Subtract()([a, c]), L.Multiply()([a, c]), L.Average()([a, c]),
              L.Maximum()([a, c]), L.Minimum()([a, c]), L.Concatenate()([shared(a), shared(c)])]
    z = L.Concatenate(name="all")(merged)
    z = L.Dropout(0.2)(z)
    z = L.BatchNormalization(name="bn")(z)
    z = L.GaussianNoise(0.1)(z)
    z = L.GaussianDropout(0.1)(z)
    z = L.Activation("softsign")(z)
    inner = K.Sequential([L.Dense(4, activation="relu"), L.Dense(3)], name="inner")
    out = inner(L.LSTM(4, name="lstm_z")(z))
    models["merges"] = K.Model(x, out)
    # 3. convolution, pooling and reshaping (no masks), multiple inputs and outputs
    x1 = K.Input((16, 4), name="x1")
    x2 = K.Input((5,), name="x2")
    y = L.Conv1D(6, 3, padding="same", activation="relu", name="conv")(x1)
    y = L.Conv1D(6, 3, strides=2, padding="causal", dilation_rate=1, name="conv_causal")(y)
    y = L.MaxPooling1D(2, name="maxpool")(y)
    y = L.AveragePooling1D(2, padding="same", name="avgpool")(y)
    gm = L.GlobalMaxPooling1D(name="gmp")(y)
    flat = L.Flatten(name="flat")(y)
    d = L.Dense(6, name="dense6")(L.Concatenate()([flat, x2]))
    r = L.RepeatVector(4, name="repeat")(d)
    r = L.Reshape((6, 4), name="reshape")(r)
    r = L.Permute((2, 1), name="permute")(r)
    s = L.SimpleRNN(3, return_sequences=True, go_backwards=True, name="back")(r)
    models["conv"] = K.Model([x1, x2], [gm, s])
    # 4. seq2seq state wiring, one tensor used as both h and c
    enc = K.Input((None, 4), name="enc")
    dec = K.Input((None, 3), name="dec")
    _, h, cc = L.LSTM(6, return_state=True, name="encoder")(enc)
    y1 = L.LSTM(6, return_sequences=True, name="decoder")(dec, initial_state=[h, cc])
    y2 = L.LSTM(6, name="same_hc")(dec, initial_state=[h, h])
    y3, hb = L.GRU(6, return_state=True, name="gru_state")(dec, initial_state=h)
    models["seq2seq"] = K.Model([enc, dec], [y1, y2, y3, hb])
    return models


def inputs_for(name, rng):
    if name == "tokens":
        ids = rng.integers(1, 30, (3, 12))
        ids[0, :5] = 0  # pre-padded
        ids[1, :11] = 0
        ids[2, :] = 0  # fully masked row
        return [ids]
    if name == "merges":
        x = rng.standard_normal((3, 10, 6)).astype("float32")
        x[0, :3] = 0.0
        x[1, 7:] = 0.0
        x[2, 4] = 0.0
        return [x]
    if name == "conv":
        return [rng.standard_normal((3, 16, 4)).astype("float32"), rng.standard_normal((3, 5)).astype("float32")]
    return [rng.standard_normal((3, 7, 4)).astype("float32"), rng.standard_normal((3, 5, 3)).astype("float32")]


def randomize(model, rng):
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.4 for w in model.get_weights()])
    for layer in model.layers:  # positive moving variances
        if type(layer).__name__ == "BatchNormalization":
            ws = layer.get_weights()
            ws[-1] = np.abs(ws[-1]) + 0.5
            layer.set_weights(ws)


def formats(K):
    if generation(K) == 3:
        return ["keras", "legacy_h5", "weights_h5"]
    return ["legacy_h5", "weights_h5"]


def save(model, K, fmt, tmp: Path):
    if fmt == "keras":
        p = tmp / "m.keras"
        model.save(p)
        return kt.load_model(p), p
    if fmt == "legacy_h5":
        p = tmp / "m.h5"
        model.save(p)
        return kt.load_model(p), p
    p = tmp / ("m.weights.h5" if generation(K) == 3 else "w.h5")
    model.save_weights(p)
    ours = kt.model_from_json(model.to_json())
    kt.load_weights(ours, p)
    return ours, p


@pytest.mark.parametrize("name", ["tokens", "merges", "conv", "seq2seq"])
def test_written_files_match_keras(K, name, tmp_path, rng):
    model = sink_models(K)[name]
    randomize(model, rng)
    x = inputs_for(name, rng)
    for fmt in formats(K):
        ours, path = save(model, K, fmt, tmp_path)
        assert ours.count_params() == model.count_params(), fmt
        try:
            kt.testing.assert_keras_parity(model, ours, x)
        except AssertionError as e:
            raise AssertionError(f"{name} written as {fmt} by Keras {generation(K)}:\n{e}") from None
        # and by name
        if fmt != "keras":
            again = kt.model_from_json(model.to_json())
            kt.load_weights(again, path, by_name=True)
            kt.testing.assert_keras_parity(model, again, x)


def test_from_keras_models(K, rng):
    for name, model in sink_models(K).items():
        randomize(model, rng)
        kt.testing.assert_keras_parity(model, kt.from_keras(model), inputs_for(name, rng))


def test_model_structure_and_summary(keras3, tmp_path, rng):
    model = sink_models(keras3)["seq2seq"]
    model.save(tmp_path / "s.keras")
    ours = kt.load_model(tmp_path / "s.keras")
    assert isinstance(ours, torch.nn.Module)
    assert isinstance(ours.encoder, kt.LSTM) and ours.layer("same_hc") is ours.same_hc
    outs = ours(torch.randn(2, 7, 4), torch.randn(2, 5, 3))
    assert isinstance(outs, tuple) and len(outs) == 4
    text = kt.summary(ours, [(None, None, 4), (None, None, 3)], print_fn=None)
    assert "encoder (LSTM)" in text and f"Total params: {model.count_params():,}" in text


def test_stateful_time_major_unroll_configs(tfk, tmp_path, rng):
    x = tfk.Input(batch_shape=(2, 5, 3))
    y = tfk.layers.LSTM(4, stateful=True, return_sequences=True, unroll=True, name="st")(x)
    y = tfk.layers.GRU(3, time_major=False, name="tm")(y)
    model = tfk.Model(x, y)
    randomize(model, rng)
    model.save(tmp_path / "st.h5")
    ours = kt.load_model(tmp_path / "st.h5")
    assert ours.st.stateful
    for _ in range(3):  # the states carry across calls, as in Keras
        kt.testing.assert_keras_parity(model, ours, rng.standard_normal((2, 5, 3)).astype("float32"))


def _keras1_file(path: Path, tfk, rng) -> tuple:
    """A Keras 1.2.2-style file: Keras 1 config names and per-gate weight layouts, written by hand
    from a tf-keras model with the same computation (the layout conversion is the documented one)."""
    x = tfk.Input((6, 3), name="input_1")
    a = tfk.layers.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid", name="lstm_1")(x)
    b = tfk.layers.GRU(5, reset_after=False, recurrent_activation="hard_sigmoid", name="gru_1")(a)
    o = tfk.layers.Dense(2, activation="softmax", name="dense_1")(b)
    model = tfk.Model(x, o)
    randomize(model, rng)
    k, u, bias = model.get_layer("lstm_1").get_weights()
    split = lambda w: np.split(w, 4, axis=-1)  # noqa: E731  i, f, c, o
    ki, kf, kc, ko = split(k)
    ui, uf, uc, uo = split(u)
    bi, bf, bc, bo = split(bias)
    lstm = [ki, ui, bi, kc, uc, bc, kf, uf, bf, ko, uo, bo]  # Keras 1 order: i, c, f, o
    gk, gu, gb = model.get_layer("gru_1").get_weights()
    gz, gr, gh = np.split(gk, 3, -1), np.split(gu, 3, -1), np.split(gb, 3, -1)
    gru = [gz[0], gr[0], gh[0], gz[1], gr[1], gh[1], gz[2], gr[2], gh[2]]  # W_z, U_z, b_z, W_r, ...
    config = {"class_name": "Model", "config": {"name": "model_1", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 6, 3], "input_dtype": "float32", "sparse": False, "name": "input_1"}},
        {"class_name": "LSTM", "name": "lstm_1", "inbound_nodes": [[["input_1", 0, 0]]],
         "config": {"name": "lstm_1", "output_dim": 4, "return_sequences": True, "inner_activation": "hard_sigmoid",
                    "activation": "tanh", "init": "glorot_uniform", "inner_init": "orthogonal",
                    "forget_bias_init": "one", "consume_less": "cpu", "go_backwards": False, "stateful": False,
                    "unroll": False, "dropout_W": 0.0, "dropout_U": 0.0, "W_regularizer": None,
                    "U_regularizer": None, "b_regularizer": None, "input_dim": 3, "input_length": None,
                    "trainable": True}},
        {"class_name": "GRU", "name": "gru_1", "inbound_nodes": [[["lstm_1", 0, 0]]],
         "config": {"name": "gru_1", "output_dim": 5, "inner_activation": "hard_sigmoid", "activation": "tanh",
                    "return_sequences": False, "init": "glorot_uniform", "inner_init": "orthogonal",
                    "consume_less": "gpu", "go_backwards": False, "stateful": False, "unroll": False,
                    "dropout_W": 0.0, "dropout_U": 0.0, "trainable": True}},
        {"class_name": "Dense", "name": "dense_1", "inbound_nodes": [[["gru_1", 0, 0]]],
         "config": {"name": "dense_1", "output_dim": 2, "activation": "softmax", "init": "glorot_uniform",
                    "bias": True, "input_dim": None, "trainable": True}},
    ], "input_layers": [["input_1", 0, 0]], "output_layers": [["dense_1", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"input_1", b"lstm_1", b"gru_1", b"dense_1"]
        for lname, arrays, names in [
            ("input_1", [], []),
            ("lstm_1", lstm, [f"lstm_1_{w}_{gate}" for gate in "icfo" for w in "WUb"]),
            ("gru_1", gru, [f"gru_1_{w}_{gate}" for gate in "zrh" for w in "WUb"]),
            ("dense_1", model.get_layer("dense_1").get_weights(), ["dense_1_W", "dense_1_b"]),
        ]:
            lg = g.create_group(lname)
            lg.attrs["weight_names"] = [n.encode() for n in names]
            for n, a in zip(names, arrays):
                lg.create_dataset(n, data=a)
    return model


def test_keras1_file(tfk, tmp_path, rng):
    reference = _keras1_file(tmp_path / "k1.h5", tfk, rng)
    ours = kt.load_model(tmp_path / "k1.h5")
    assert ours.lstm_1.cell.recurrent_activation.name == "hard_sigmoid_keras2"
    assert ours.gru_1.cell.reset_after is False
    kt.testing.assert_keras_parity(reference, ours, rng.standard_normal((2, 6, 3)).astype("float32"))


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_cudnn_files(tfk, tmp_path, rng, kind):
    """CuDNNGRU / CuDNNLSTM layers saved by tf-keras (weights-only and full model) load into
    GRU(reset_after=True) / LSTM; the reference is tf-keras's own CuDNN -> plain conversion."""
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM

    cudnn = {"GRU": CuDNNGRU, "LSTM": CuDNNLSTM}[kind]
    src = tfk.Sequential([tfk.Input((5, 3)), tfk.layers.Bidirectional(cudnn(4, return_sequences=True), name="bi"),
                          cudnn(4, name="g")])
    src.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.4 for w in src.get_weights()])
    assert src.get_layer("g").get_weights()[2].shape == ((6 if kind == "GRU" else 8) * 4,)
    src.save_weights(tmp_path / "cudnn.h5")
    plain = getattr(tfk.layers, kind)
    extra = {"reset_after": True} if kind == "GRU" else {}
    reference = tfk.Sequential([tfk.Input((5, 3)),
                                tfk.layers.Bidirectional(plain(4, return_sequences=True,
                                                               recurrent_activation="sigmoid", **extra), name="bi"),
                                plain(4, recurrent_activation="sigmoid", name="g", **extra)])
    reference.load_weights(tmp_path / "cudnn.h5")  # tf-keras converts CuDNN -> plain layouts
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    ours = kt.model_from_json(reference.to_json())  # into plain layers, as tf-keras does
    kt.load_weights(ours, tmp_path / "cudnn.h5")
    kt.testing.assert_keras_parity(reference, ours, x)
    ours_cudnn = kt.model_from_json(src.to_json())  # the CuDNN classes themselves
    kt.load_weights(ours_cudnn, tmp_path / "cudnn.h5")
    kt.testing.assert_keras_parity(reference, ours_cudnn, x)


# ---- error paths -----------------------------------------------------------------------------


@pytest.fixture
def saved(tfk, tmp_path, rng):
    model = sink_models(tfk)["seq2seq"]
    randomize(model, rng)
    model.save(tmp_path / "ok.h5")
    model.save_weights(tmp_path / "w.h5")
    return model, tmp_path


def test_truncated_and_garbage_files(saved):
    _, tmp = saved
    data = (tmp / "ok.h5").read_bytes()
    (tmp / "trunc.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(kt.KerasFileError, match="corrupt or truncated|truncated or corrupt"):
        kt.load_model(tmp / "trunc.h5")
    (tmp / "junk.keras").write_bytes(b"definitely not a keras file")
    with pytest.raises(kt.KerasFileError, match="is not a Keras file"):
        kt.load_model(tmp / "junk.keras")
    with pytest.raises(FileNotFoundError, match="no such Keras file"):
        kt.load_model(tmp / "missing.h5")


def test_truncated_keras_zip(keras3, tmp_path, rng):
    model = sink_models(keras3)["seq2seq"]
    model.save(tmp_path / "m.keras")
    data = (tmp_path / "m.keras").read_bytes()
    (tmp_path / "t.keras").write_bytes(data[: len(data) - 200])
    with pytest.raises(kt.KerasFileError, match="corrupt or truncated"):
        kt.load_model(tmp_path / "t.keras")
    with zipfile.ZipFile(tmp_path / "noconf.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    with pytest.raises(kt.KerasFileError, match="without config.json"):
        kt.load_model(tmp_path / "noconf.keras")


def test_inconsistent_weights_leave_module_unchanged(saved, rng):
    model, tmp = saved
    with h5py.File(tmp / "w.h5", "a") as f:  # a kernel of the wrong shape for one layer
        name = f["decoder"].attrs["weight_names"][0]
        del f["decoder"][name]
        f["decoder"].create_dataset(name, data=np.zeros((3, 3), "float32"))
    ours = kt.model_from_json(model.to_json())
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(ValueError, match="expects 3 weights with shapes"):
        kt.load_weights(ours, tmp / "w.h5")
    after = ours.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_missing_group_and_wrong_layer_count(saved):
    model, tmp = saved
    with h5py.File(tmp / "w.h5", "a") as f:
        del f["decoder"]
    with pytest.raises(kt.KerasFileError, match="no group for it|missing"):
        kt.load_weights(kt.model_from_json(model.to_json()), tmp / "w.h5")
    with h5py.File(tmp / "w.h5", "a") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
        f.attrs["layer_names"] = [n.encode() for n in names if n != "decoder"]
    with pytest.raises(kt.KerasFileError, match="has weights for 3 layers .* 4 layers with weights"):
        kt.load_weights(kt.model_from_json(model.to_json()), tmp / "w.h5")


def test_unsupported_layer_and_lambda(tfk, tmp_path):
    x = tfk.Input((4, 3))
    y = tfk.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    y = tfk.layers.LSTM(2)(y)
    model = tfk.Model(x, y)
    model.save(tmp_path / "lam.h5")
    with pytest.raises(kt.converters.UnsupportedLayerError, match="Lambda layer 'double'.*never executed"):
        kt.load_model(tmp_path / "lam.h5")
    ours = kt.load_model(tmp_path / "lam.h5", custom_objects={"double": lambda cfg: _Double()})
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    kt.testing.assert_keras_parity(model, ours, x)
    cfg = {"class_name": "Sequential", "config": [{"class_name": "LocallyConnected2D", "config": {"name": "c"}}]}
    with pytest.raises(kt.converters.UnsupportedLayerError, match="'c' of class 'LocallyConnected2D' has no converter"):
        kt.model_from_config(cfg)


class _Double(torch.nn.Module):
    def forward(self, x, mask=None):
        return x * 2.0


def test_model_from_json_generations(K):
    """Bare-list Sequential (Keras <= 2.2), Functional, Keras 3 serialization."""
    bare = {"class_name": "Sequential", "config": [
        {"class_name": "GRU", "config": {"name": "g", "units": 3, "batch_input_shape": [None, 4, 2]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}
    m = kt.model_from_json(json.dumps(bare))
    assert isinstance(m.g, kt.GRU) and m.g.cell.reset_after is False  # no key: Keras < 2.1.3 default
    assert m(torch.zeros(1, 4, 2)).shape == (1, 2)
    model = sink_models(K)["tokens"]
    ours = kt.model_from_json(model.to_json())
    assert ours.count_params() == model.count_params()
    with pytest.raises(kt.KerasFileError, match="architecture JSON is not valid JSON"):
        kt.model_from_json("{not json")


def test_read_weights_by_layer_name(saved):
    model, tmp = saved
    arrays = kt.read_weights(tmp / "w.h5")
    assert set(arrays) == {"encoder", "decoder", "same_hc", "gru_state"}
    for a, b in zip(arrays["decoder"], model.get_layer("decoder").get_weights()):
        np.testing.assert_array_equal(a, b)
    layer = kt.LSTM(6, return_sequences=True)
    layer.set_keras_weights(arrays["decoder"])
    kt.testing.assert_keras_parity(model.get_layer("decoder"), layer,
                                   np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32"))


# ---- command line -----------------------------------------------------------------------------


def _cli(*args, cwd=None):
    exe = shutil.which("keraslike-torch")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "keraslike_torch", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_cli_inspect(tfk, tmp_path):
    x = tfk.Input((4, 3))
    y = tfk.layers.Lambda(lambda t: t + 1.0, name="plus")(x)
    y = tfk.layers.LSTM(2, name="rnn")(y)
    tfk.Model(x, y).save(tmp_path / "lam.h5")
    out = _cli("inspect", str(tmp_path / "lam.h5"))
    assert out.returncode == 1 and "plus (Lambda)" in out.stdout
    ok = tfk.Sequential([tfk.Input((4, 3)), tfk.layers.LSTM(2, name="rnn")])
    ok.save(tmp_path / "ok.h5")
    out = _cli("inspect", str(tmp_path / "ok.h5"))
    assert out.returncode == 0 and "rnn (LSTM)" in out.stdout and "Total params: 48" in out.stdout
    out = _cli("convert", str(tmp_path / "nope.h5"), str(tmp_path / "o"))
    assert out.returncode == 2 and "no such Keras file" in out.stderr
