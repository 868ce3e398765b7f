"""Edge cases found in review: each compares with Keras or checks an error/invariant."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import keraslike_torch as kt


def test_keras3_weights_file_into_single_bidirectional(keras3, tmp_path, rng):
    """Forward and backward weights must not swap (the file lists backward_layer first)."""
    layer = keras3.layers.Bidirectional(keras3.layers.LSTM(3), name="bi")
    model = keras3.Sequential([keras3.Input((4, 2)), layer])
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    model.save_weights(tmp_path / "m.weights.h5")
    ours = kt.Bidirectional(kt.LSTM(3), name="bi")
    kt.load_weights(ours, tmp_path / "m.weights.h5", by_name=True)
    for a, b in zip(ours.get_keras_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_read_weights_keys_keras3_layers_by_layer_name(keras3, tmp_path, rng):
    x = keras3.Input((4, 2))
    a = keras3.layers.LSTM(3, return_sequences=True, name="enc")(x)
    b = keras3.layers.GRU(5, name="dec")(a)
    model = keras3.Model(x, keras3.layers.Dense(2, name="head")(b))
    model.save_weights(tmp_path / "w.weights.h5")
    arrays = kt.read_weights(tmp_path / "w.weights.h5")
    assert set(arrays) == {"enc", "dec", "head"}
    for name in arrays:
        for got, want in zip(arrays[name], model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(kt.KerasFileError, match="no weights for a layer named 'dec_typo'"):
        kt.load_weights(kt.GRU(5, name="dec_typo"), tmp_path / "w.weights.h5", by_name=True)


def test_mask_from_nested_model_reaches_next_layer(keras3, tmp_path):
    """Keras 3 records mask=None on the call after a nested model; the nested model's output mask
    still applies (Keras 3 infers masks when mask is None)."""
    keras3.utils.set_random_seed(0)
    inner = keras3.Sequential([keras3.layers.Embedding(10, 4, mask_zero=True),
                               keras3.layers.GRU(3, return_sequences=True)])
    i = keras3.Input((6,), dtype="int32")
    model = keras3.Model(i, keras3.layers.LSTM(2)(inner(i)))
    ids = np.array([[0, 0, 3, 4, 5, 1], [1, 2, 3, 0, 0, 0]], dtype="int32")
    kt.testing.assert_keras_parity(model, kt.from_keras(model), ids)
    model.save(tmp_path / "n.keras")
    kt.testing.assert_keras_parity(model, kt.load_model(tmp_path / "n.keras"), ids)


def test_tf_keras_config_without_version_means_keras2(tfk, rng):
    m = tfk.Sequential([tfk.Input((4, 2)), tfk.layers.LSTM(3, recurrent_activation="hard_sigmoid")])
    ours = kt.model_from_config({"class_name": "Sequential", "config": m.get_config()})
    ours.set_keras_weights(m.get_weights())
    assert ours.keras_layers()[0][1].cell.recurrent_activation.name == "hard_sigmoid_keras2"
    kt.testing.assert_keras_parity(m, ours, rng.standard_normal((2, 4, 2)).astype("float32"))


def test_time_major_masks_are_time_by_batch(tfk, tmp_path, rng):
    """tf-keras masks of time_major layers are (T, B), as a Masking layer before them gives."""
    x = tfk.Input((3, 2))  # (T, B, F) data with batch 3 in the "time" slot of the declared shape
    y = tfk.layers.Masking(0.0)(x)
    y = tfk.layers.LSTM(4, time_major=True, return_sequences=True)(y)
    model = tfk.Model(x, y)
    model.save(tmp_path / "tm.h5")
    data = rng.standard_normal((5, 3, 2)).astype("float32")  # T=5, B=3
    data[3:, 0] = 0.0  # batch row 0 post-padded
    data[:2, 1] = 0.0  # batch row 1 pre-padded
    kt.testing.assert_keras_parity(model, kt.load_model(tmp_path / "tm.h5"), data)
    layer = kt.LSTM(4, input_size=2, time_major=True, return_sequences=True)
    with pytest.raises(ValueError, match=r"mask shape \(3, 5\) does not match the input's \(batch, time\) = \(5, 3\)"):
        layer(torch.from_numpy(data), mask=torch.ones(3, 5, dtype=torch.bool))  # (B, T) is wrong here


def test_stored_states_follow_dtype_and_do_not_alias_outputs():
    layer = kt.LSTM(3, input_size=2, stateful=True, return_sequences=True, recurrent_activation="hard_sigmoid")
    y = layer(torch.randn(2, 4, 2))
    stored = [s.clone() for s in layer.states]
    with torch.no_grad():
        y.mul_(0.0)  # an in-place edit of the output must not reach the stored states
    assert all(torch.equal(a, b) for a, b in zip(stored, layer.states))
    layer.double()
    assert layer(torch.randn(2, 4, 2, dtype=torch.float64)).dtype == torch.float64


def test_bidirectional_with_different_backward_layer(K, rng):
    back = K.layers.LSTM(3, use_bias=False, go_backwards=True, return_sequences=True)
    layer = K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=True), backward_layer=back)
    layer.build((None, 4, 2))
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])
    assert [w.shape for w in layer.get_weights()][3:] == [(2, 12), (3, 12)]
    kt.testing.assert_keras_parity(layer, kt.from_keras(layer), rng.standard_normal((2, 4, 2)).astype("float32"))


def test_failed_load_into_unbuilt_layers_changes_nothing():
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "GRU", "config": {"name": "a", "units": 3, "return_sequences": True}},
        {"class_name": "GRU", "config": {"name": "b", "units": 3}}]}
    model = kt.model_from_config(cfg)  # feature size unknown: nothing is built yet
    good = [np.zeros((2, 9), "f4"), np.zeros((3, 9), "f4"), np.zeros(9, "f4")]
    bad = [np.zeros((3, 9), "f4"), np.zeros((4, 9), "f4"), np.zeros(9, "f4")]
    with pytest.raises(ValueError, match=r"expects 3 weights with shapes \[\(3, 9\), \(3, 9\), \(9,\)\]"):
        model.set_keras_weights(good + bad)
    assert not model.layer("a").cell.built and not model.layer("b").cell.built


def test_bidirectional_reset_states_checks_all_states_first():
    bi = kt.Bidirectional(kt.LSTM(2, input_size=1, stateful=True))
    bi(torch.zeros(3, 2, 1))
    before = [s.clone() for s in bi.states]
    with pytest.raises(ValueError, match="Bidirectional takes 4 states"):
        bi.reset_states([torch.ones(3, 2)] * 3)
    with pytest.raises(ValueError, match=r"initial_state\[1\] must have shape"):
        bi.reset_states([torch.ones(3, 2)] * 3 + [torch.ones(3, 5)])
    assert all(torch.equal(a, b) for a, b in zip(before, bi.states))


def test_custom_object_by_layer_name_inside_wrappers(tfk, tmp_path):
    """custom_objects keyed by a layer name reach layers nested in TimeDistributed."""
    x = tfk.Input((4, 3))
    y = tfk.layers.TimeDistributed(tfk.layers.Lambda(lambda t: t * 3.0, name="triple"))(x)
    model = tfk.Model(x, tfk.layers.LSTM(2)(y))
    model.save(tmp_path / "td.h5")

    class Triple(torch.nn.Module):
        def forward(self, t, mask=None):
            return t * 3.0

    ours = kt.load_model(tmp_path / "td.h5", custom_objects={"triple": Triple()})
    kt.testing.assert_keras_parity(model, ours, np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32"))
    assert json.loads(model.to_json())  # the reference itself is a plain tf-keras model
