"""Keras 1 and Keras 2.0.x files and configs (SPEC 5): Keras 1.2.2's own LSTM predictions, Keras 1
Bidirectional(LSTM) weights (12 per-gate arrays per direction), and Keras 2.0.x's
``"dtype": "int32"`` in Embedding configs. The Keras 1.2.2 files come from the DL4J test
resources in ../shared/models/dl4j_keras1_fixtures (see its SOURCE.txt)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from conftest import SHARED_MODELS

import keraslike_torch as kt
from keraslike_torch.converters import UnsupportedLayerError

FIXTURES = SHARED_MODELS / "dl4j_keras1_fixtures"
pytestmark = pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/models is absent")


@pytest.mark.parametrize("backend", ["tf", "th"])
def test_keras1_lstm_matches_keras_1_2_2_predictions(backend):
    """LSTM(50, inner_activation=hard_sigmoid) -> Dense, against the predictions and the LSTM
    activations Keras 1.2.2 computed and stored with the file (TensorFlow and Theano backends)."""
    data = np.load(FIXTURES / f"simple_lstm_{backend}_keras_1_inputs_and_predictions.npz")
    model = kt.load_model(FIXTURES / f"simple_lstm_{backend}_keras_1_model.h5")
    x = torch.from_numpy(data["inputs"].astype("float32"))
    np.testing.assert_allclose(model(x).detach().numpy(), data["predictions"], rtol=1e-5, atol=1e-6)
    lstm = model.layer("lstm_1")
    np.testing.assert_allclose(lstm(x).detach().numpy(), data["lstm_activations"], rtol=1e-5, atol=1e-6)


def _file_arrays(path, direction):
    """One direction's Keras 1 arrays straight from the HDF5 file, by weight name."""
    with h5py.File(path) as f:
        group = f["model_weights"]["bidirectional_1"]
        names = [n.decode() for n in group.attrs["weight_names"]]
        # "forward_lstm_1_W_i:0" (TensorFlow backend) or "forward_lstm_1_W_i" (Theano)
        return {n.split("_lstm_1_")[1].split(":")[0]: np.asarray(group[n]) for n in names if n.startswith(direction)}


@pytest.mark.parametrize("backend", ["tensorflow", "theano"])
def test_keras1_bidirectional_lstm_weights_and_outputs(backend, tfk, rng):
    """Bidirectional(LSTM(10, return_sequences=True)) saved by Keras 1.2.2: 24 arrays, split 12 per
    direction; each direction's kernels equal the file's per-gate arrays in Keras 2's gate order
    (i, f, c, o); the outputs equal tf-keras's Bidirectional(LSTM) given those arrays (the fixtures
    publish no predictions)."""
    path = FIXTURES / f"bidirectional_lstm_{backend}_1.h5"
    model = kt.load_model(path)
    bi = model.layer("bidirectional_1")
    assert isinstance(bi, kt.Bidirectional) and bi.forward_layer.cell.recurrent_activation.name == "hard_sigmoid_keras2"
    expected = []
    for direction, layer in (("forward", bi.forward_layer), ("backward", bi.backward_layer)):
        a = _file_arrays(path, direction)
        keras2 = [np.concatenate([a[f"{kind}_{g}"] for g in "ifco"], axis=-1) for kind in "WUb"]
        got = layer.get_keras_weights()
        assert [w.shape for w in got] == [(10, 40), (10, 40), (40,)]
        for w_ours, w_file in zip(got, keras2):
            np.testing.assert_array_equal(w_ours, w_file)
        expected += keras2
    ref = tfk.layers.Bidirectional(tfk.layers.LSTM(10, return_sequences=True, recurrent_activation="hard_sigmoid"))
    ref.build((None, 4, 10))
    ref.set_weights(expected)
    x = rng.standard_normal((3, 4, 10)).astype("float32")
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), np.asarray(ref(x)), rtol=1e-5, atol=1e-6)


def test_keras1_bidirectional_gru_split(rng):
    """Keras 1 Bidirectional(GRU): 9 per-gate arrays (z, r, h: W, U, b) per direction, 18 in all,
    go to each direction in Keras 2's (z, r, h) concatenation (no fixture file holds one)."""
    bi = kt.Bidirectional(kt.GRU(3, input_size=2, reset_after=False, keras_version=1))
    per_gate = {d: [rng.standard_normal(shape).astype("float32") for _ in "zrh" for shape in ((2, 3), (3, 3), (3,))]
                for d in ("forward", "backward")}
    arrays = per_gate["forward"] + per_gate["backward"]
    bi.set_keras_weights(kt.porting.layouts.to_keras_layout(bi, arrays, generation=1))
    for d, layer in (("forward", bi.forward_layer), ("backward", bi.backward_layer)):
        a = per_gate[d]
        expected = [np.concatenate([a[3 * g + j] for g in range(3)], axis=-1) for j in range(3)]
        for got, want in zip(layer.get_keras_weights(), expected):
            np.testing.assert_array_equal(got, want)


# ---- Keras 2.0.x Embedding dtype -------------------------------------------------------------------

_INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform",
                                                      "seed": None}}


def _keras_2_0_2_json():
    """A Sequential as Keras 2.0.2 wrote it: a list of layers, the Embedding carrying the integer
    input's dtype, the LSTM with Keras 2.0's implementation=0."""
    embedding = {"name": "embedding_1", "trainable": True, "batch_input_shape": [None, 6], "dtype": "int32",
                 "input_dim": 30, "output_dim": 4, "embeddings_initializer": {
                     "class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
                 "embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None,
                 "mask_zero": True, "input_length": 6}
    lstm = {"name": "lstm_1", "trainable": True, "return_sequences": False, "go_backwards": False,
            "stateful": False, "unroll": False, "implementation": 0, "units": 5, "activation": "tanh",
            "recurrent_activation": "hard_sigmoid", "use_bias": True, "kernel_initializer": _INIT,
            "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
            "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
            "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0}
    return json.dumps({"class_name": "Sequential", "keras_version": "2.0.2", "backend": "tensorflow",
                       "config": [{"class_name": "Embedding", "config": embedding},
                                  {"class_name": "LSTM", "config": lstm}]})


def test_keras_2_0_embedding_int32_dtype_is_the_input_dtype(tfk, rng):
    model = kt.model_from_json(_keras_2_0_2_json())
    emb = model.layer("embedding_1")
    assert emb.get_keras_weights()[0].dtype == np.float32
    ref = tfk.Sequential([tfk.Input((6,), dtype="int32"), tfk.layers.Embedding(30, 4, mask_zero=True),
                          tfk.layers.LSTM(5, recurrent_activation="hard_sigmoid")])
    ref.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5 for w in ref.get_weights()])
    model.set_keras_weights(ref.get_weights())
    ids = rng.integers(1, 30, (3, 6))
    ids[0, :2] = 0
    ids[2, 4:] = 0
    kt.testing.assert_keras_parity(ref, model, [ids.astype("int32")])


@pytest.mark.parametrize("cls,config", [
    ("Dense", {"name": "d", "units": 2, "dtype": "complex64"}),
    ("Embedding", {"name": "e", "input_dim": 3, "output_dim": 2, "dtype": "string"}),
    ("LSTMCell", {"name": "c", "units": 2, "dtype": {"class_name": "DTypePolicy", "config": {"name": "int4"}}}),
])
def test_unsupported_dtype_errors_name_the_layer(cls, config):
    with pytest.raises(UnsupportedLayerError, match=rf"layer '{config['name']}': unsupported Keras dtype"):
        kt.converters.convert_layer(cls, config)
