"""Writes examples/models/first_equals_last.h5, the small bundled example model.

A tf-keras (Keras 2) model trained for a few seconds on a toy task: given a pre-padded sequence of
token ids (Keras's pad_sequences default), say whether the first and last real tokens are equal.
It uses what real Keras 2-era files use: Embedding(mask_zero=True), Bidirectional LSTM with the
Keras 2 hard_sigmoid, Dense softmax. Needs TensorFlow (pip install -e ".[keras]").

    python examples/make_example_model.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

OUT = Path(__file__).resolve().parent / "models"


def data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lengths = rng.integers(2, 13, n)
    ids = np.zeros((n, 12), dtype="int32")
    labels = np.zeros(n, dtype="int32")
    for i, k in enumerate(lengths):
        seq = rng.integers(1, 6, k)
        if rng.random() < 0.5:
            seq[-1] = seq[0]
        ids[i, 12 - k:] = seq  # pre-padding
        labels[i] = int(seq[0] == seq[-1])
    return ids, labels, lengths


def main() -> None:
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids, labels, _ = data(4000, rng)
    inp = keras.Input((12,), name="tokens")
    x = keras.layers.Embedding(6, 8, mask_zero=True, name="embedding")(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(16, recurrent_activation="hard_sigmoid"), name="bilstm")(x)
    out = keras.layers.Dense(2, activation="softmax", name="classify")(x)
    model = keras.Model(inp, out, name="first_equals_last")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ids, labels, epochs=40, batch_size=64, verbose=0)
    test_ids, test_labels, _ = data(500, np.random.default_rng(1))
    print("accuracy on fresh data:", model.evaluate(test_ids, test_labels, verbose=0)[1])
    OUT.mkdir(exist_ok=True)
    model.save(OUT / "first_equals_last.h5")
    np.save(OUT / "first_equals_last_inputs.npy", test_ids[:8])
    print("wrote", OUT / "first_equals_last.h5")


if __name__ == "__main__":
    main()
