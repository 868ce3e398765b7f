"""SPEC 5a: a decoder ``LSTM(64, return_sequences=True, return_state=True)(emb, initial_state=[h, c])``
behind ``Embedding(mask_zero=True)`` runs UNMASKED in Keras 3 (three tensor arguments) and MASKED
in tf-keras. Each route (the generation's file, the JSON + weights file, the live model) must give
that generation's predict, for pre-padded and post-padded token ids.

(tests/test_codegen.py's encoder_decoder case already loads such files, pre-padded only.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import keraslike_torch as kt

VOCAB, STEPS = 20, 7


def seq2seq(K):
    L = K.layers
    enc = K.Input((STEPS,), dtype="int32", name="enc")
    dec = K.Input((STEPS,), dtype="int32", name="dec")
    _, h, c = L.LSTM(64, return_state=True, name="encoder")(L.Embedding(VOCAB, 8, mask_zero=True, name="enc_emb")(enc))
    emb = L.Embedding(VOCAB, 8, mask_zero=True, name="dec_emb")(dec)
    y, h2, c2 = L.LSTM(64, return_sequences=True, return_state=True, name="decoder")(emb, initial_state=[h, c])
    probs = L.Dense(5, activation="softmax", name="probs")(y)
    return K.Model([enc, dec], [probs, h2, c2])


def token_ids(padding: str, rng):
    ids = rng.integers(1, VOCAB, (3, STEPS))
    for row, n in enumerate((3, 1, 5)):
        if padding == "pre":
            ids[row, :n] = 0
        else:
            ids[row, STEPS - n:] = 0
    return ids.astype("int32")


@pytest.fixture(scope="module", params=["keras3", "tf_keras"])
def written(request, tmp_path_factory):
    K = request.getfixturevalue("keras3" if request.param == "keras3" else "tfk")
    rng = np.random.default_rng(3)
    model = seq2seq(K)
    model.set_weights([(rng.standard_normal(w.shape) * 0.3).astype(w.dtype) for w in model.get_weights()])
    folder = tmp_path_factory.mktemp(request.param)
    full = folder / ("m.keras" if request.param == "keras3" else "m.h5")
    weights = folder / ("m.weights.h5" if request.param == "keras3" else "w.h5")
    model.save(full)
    model.save_weights(weights)
    inputs = {p: [token_ids(p, rng), token_ids(p, rng)] for p in ("pre", "post")}
    return dict(K=K, model=model, full=full, weights=weights, json=model.to_json(), inputs=inputs,
                ref={p: [np.asarray(a) for a in model.predict(x, verbose=0)] for p, x in inputs.items()})


@pytest.mark.parametrize("route", ["file", "json_and_weights", "from_keras"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_decoder_mask_follows_the_writing_generation(written, route, padding):
    if route == "file":
        ours = kt.load_model(written["full"])
    elif route == "json_and_weights":
        ours = kt.model_from_json(written["json"])
        kt.load_weights(ours, written["weights"])
    else:
        ours = kt.from_keras(written["model"])
    got = ours(*[torch.from_numpy(x) for x in written["inputs"][padding]])
    for ref, out in zip(written["ref"][padding], got):
        np.testing.assert_allclose(out.detach().numpy(), ref, atol=2e-5, rtol=1e-4)


def test_the_generations_really_differ(keras3, tfk):
    """The check above discriminates: the same weights give different decoder states in Keras 3
    (unmasked) and tf-keras (masked) on post-padded ids, and kt follows each."""
    rng = np.random.default_rng(5)
    k3, k2 = seq2seq(keras3), seq2seq(tfk)
    weights = [(rng.standard_normal(w.shape) * 0.3).astype(w.dtype) for w in k3.get_weights()]
    k3.set_weights(weights)
    k2.set_weights(weights)
    x = [token_ids("post", rng), token_ids("post", rng)]
    h3, h2 = np.asarray(k3(x)[1]), np.asarray(k2([tfk.backend.constant(a, "int32") for a in x])[1])
    assert np.abs(h3 - h2).max() > 1e-3
    for model, ref in ((k3, h3), (k2, h2)):
        got = kt.from_keras(model)(*[torch.from_numpy(a) for a in x])[1]
        np.testing.assert_allclose(got.detach().numpy(), ref, atol=2e-5)
