"""Every file of ../shared/models (real published Keras models) against tf-keras's own loading.

These tests skip only when ../shared/models is absent (outside this repository)."""

from __future__ import annotations

import numpy as np
import pytest

import keraslike_torch as kt
from keraslike_torch.porting.formats import open_keras_file
from keraslike_torch.tools.testing import _call_keras, _flatten
from keraslike_torch.tools.verify import keras_reference

# (file, time steps for free time axes, inputs: "normal" or one-hot characters as the model expects)
FULL_MODELS = [
    ("medaka_bigru/test_model_keras208.hdf5", 200, "normal"),  # Keras 2.0.8, GRU without reset_after
    ("medaka_bigru/medaka_model_keras215.hdf5", 200, "normal"),
    ("lens_poem_simplernn/char_rnn.h5", None, "onehot"),
    ("shakespeare_char_gru/char_rnn.h5", 60, "onehot"),
]
WEIGHTS_ONLY = [
    ("chen0040_bilstm_sentiment/bidirectional_lstm_softmax_weights.h5",
     "chen0040_bilstm_sentiment/bidirectional_lstm_softmax_architecture.json"),
    ("sweet_rs_lstm128_weights/lstm128.h5", "sweet_rs_lstm128_weights/lstm128.json"),
]


def _inputs(model, time_steps, kind="normal", seed=0):
    inputs = [t.numpy() for t in model.example_inputs(batch_size=3, time_steps=time_steps or 5, seed=seed)]
    if kind == "onehot":
        rng = np.random.default_rng(seed)
        inputs = [np.eye(x.shape[-1], dtype=x.dtype)[rng.integers(0, x.shape[-1], x.shape[:-1])] for x in inputs]
    return inputs


def _compare(model, reference, time_steps, kind="normal", seed=0):
    return kt.testing.assert_keras_parity(reference, model, _inputs(model, time_steps, kind, seed))


def _float32_tolerance(reference32, reference64, inputs):
    """Trained recurrent models amplify rounding over long sequences; Keras's own float32 run then
    differs from its float64 run. Our float32 result must stay within twice that gap (and never
    be looser than needed: at least the default float32 tolerances)."""
    inputs64 = [x.astype("float64") if x.dtype.kind == "f" else x for x in inputs]
    a = _flatten(_call_keras(reference32, inputs, None, None, False))
    b = _flatten(_call_keras(reference64, inputs64, None, None, False))
    gap = max(float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max()) for x, y in zip(a, b))
    rtol, atol = kt.testing.default_tolerances("float32")
    return rtol, max(atol, 2 * gap)


@pytest.mark.parametrize("path,steps,kind", FULL_MODELS, ids=[p for p, _, _ in FULL_MODELS])
def test_full_model_files(shared_models, tfk, path, steps, kind):
    """float64 on both sides (rtol 1e-12), and float32 as shipped (see _float32_tolerance)."""
    model = kt.load_model(shared_models / path)
    reference = keras_reference(shared_models / path)
    reference64 = keras_reference(shared_models / path, dtype="float64")
    assert model.count_params() == reference.count_params()
    inputs = _inputs(model, steps, kind)
    rtol, atol = _float32_tolerance(reference, reference64, inputs)
    assert atol < 1e-4
    kt.testing.assert_keras_parity(reference, model, inputs, rtol=rtol, atol=atol)
    kt.testing.assert_keras_parity(reference64, model.double(),
                                   [x.astype("float64") if x.dtype.kind == "f" else x for x in inputs])


@pytest.mark.parametrize("weights,arch", WEIGHTS_ONLY, ids=[w for w, _ in WEIGHTS_ONLY])
@pytest.mark.parametrize("by_name", [False, True])
def test_weights_only_files(shared_models, tfk, weights, arch, by_name):
    text = (shared_models / arch).read_text()
    model = kt.model_from_json(text)
    kt.load_weights(model, shared_models / weights, by_name=by_name)
    reference = keras_reference(shared_models / weights, text)
    assert model.count_params() == reference.count_params()
    _compare(model, reference, None)
    _compare(model.double(), keras_reference(shared_models / weights, text, dtype="float64"), None)


def test_medaka_208_keeps_reset_after_false(shared_models):
    model = kt.load_model(shared_models / "medaka_bigru/test_model_keras208.hdf5")
    bi = model.layer("bidirectional_1")
    assert bi.forward_layer.cell.reset_after is False
    assert bi.forward_layer.cell.recurrent_activation.name == "hard_sigmoid_keras2"  # Keras 2.0.8
    gru = lambda d, u: 3 * u * (d + u + 1)  # noqa: E731  (SPEC: reset_after=False count)
    assert model.count_params() == 2 * gru(9, 128) + 2 * gru(256, 128) + 256 * 31 + 31


def test_textgenrnn_cudnn_lstms_by_name(shared_models, tfk, rng):
    """textgenrnn ships CuDNNLSTM weights with a custom attention layer: load its two LSTMs by name
    into LSTM layers and compare with tf-keras's own CuDNN -> LSTM conversion."""
    path = shared_models / "textgenrnn/textgenrnn_weights.hdf5"
    arrays = kt.read_weights(path)
    assert arrays["rnn_1"][2].shape == (1024,)  # cuDNN bias: input half + recurrent half
    inp = tfk.Input((40,), name="input")
    emb = tfk.layers.Embedding(465, 100, name="embedding")(inp)
    r1 = tfk.layers.LSTM(128, return_sequences=True, recurrent_activation="sigmoid", name="rnn_1")(emb)
    r2 = tfk.layers.LSTM(128, return_sequences=True, recurrent_activation="sigmoid", name="rnn_2")(r1)
    reference = tfk.Model(inp, [r1, r2])
    reference.load_weights(str(path), by_name=True, skip_mismatch=True)
    model = kt.model_from_json(reference.to_json())
    kt.load_weights(model, path, by_name=True)
    for name in ("rnn_1", "rnn_2"):  # the converted weights equal tf-keras's conversion exactly
        for a, b in zip(model.layer(name).get_keras_weights(), reference.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # This trained language model amplifies rounding: Keras's own float32 and float64 runs differ
    # by ~4e-5 after 40 steps. Outputs are compared in float64 (tight) and float32 (loose).
    ids = rng.integers(0, 465, (2, 40))
    kt.testing.assert_keras_parity(reference, model, ids, rtol=1e-3, atol=2e-4)
    ref64 = tfk.models.model_from_json(reference.to_json().replace('"float32"', '"float64"'))
    ref64.set_weights(reference.get_weights())
    kt.testing.assert_keras_parity(ref64, model.double(), ids)


def test_every_corpus_file_opens_without_tensorflow_objects(shared_models):
    """Format detection reads the bytes: every corpus file is recognized."""
    kinds = {}
    for p in sorted(shared_models.glob("*/*")):
        if p.suffix in (".h5", ".hdf5", ".json"):
            with open_keras_file(p) as kf:
                kinds[p.name] = kf.kind
    assert kinds["char_rnn.h5"] == "legacy_model"
    assert kinds["lstm128.h5"] == "legacy_weights"
    assert kinds["lstm128.json"] == "json"
    assert kinds["textgenrnn_weights.hdf5"] == "legacy_weights"
