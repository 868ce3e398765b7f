"""The seed notebook, four ways: Keras's LSTM(1) on input shape (3, 1) and its keraslike_torch port.

The notebook ("Understand the difference between return sequences and return states for LSTMs")
runs ``LSTM(1)`` on ``[0.1, 0.2, 0.3]`` plain, with ``return_sequences=True``, with
``return_state=True`` and with both. Here every cell runs the Keras model and the
keraslike_torch layer with the same weights, prints both outputs and their largest difference,
and the Keras-style summary (12 parameters).

Run: ``python examples/seed_notebook.py`` (needs the ``keras`` extra: tensorflow-cpu + keras).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import torch

import keraslike_torch as kt

CELLS = [
    ("LSTM(1)", dict()),
    ("LSTM(1, return_sequences=True)", dict(return_sequences=True)),
    ("LSTM(1, return_state=True)", dict(return_state=True)),
    ("LSTM(1, return_sequences=True, return_state=True)", dict(return_sequences=True, return_state=True)),
]


def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=8, separator=", ").replace("\n", "")


def run(print_fn=print) -> list[float]:
    """Run the four cells; returns the largest |Keras - torch| difference of each."""
    import keras

    keras.utils.set_random_seed(1)
    data = np.array([0.1, 0.2, 0.3], dtype="float32").reshape((1, 3, 1))
    worst = []
    for title, flags in CELLS:
        inputs = keras.Input(shape=(3, 1))
        layer = keras.layers.LSTM(1, **flags)
        model = keras.Model(inputs=inputs, outputs=layer(inputs))
        keras_out = model.predict(data, verbose=0)
        keras_out = list(keras_out) if isinstance(keras_out, (list, tuple)) else [keras_out]

        ours = kt.LSTM(1, **flags)
        ours.set_keras_weights(layer.get_weights())
        torch_out = ours(torch.from_numpy(data))
        torch_out = list(torch_out) if isinstance(torch_out, tuple) else [torch_out]

        diff = max(float(np.abs(k - t.detach().numpy()).max()) for k, t in zip(keras_out, torch_out))
        worst.append(diff)
        print_fn(f"\n>>> {title}")
        for name, k, t in zip(["output", "state_h", "state_c"], keras_out, torch_out):
            print_fn(f"  {name:8s} keras: {_fmt(k)}")
            print_fn(f"  {name:8s} torch: {_fmt(t.detach().numpy())}")
        print_fn(f"  max |keras - torch| = {diff:.3e}")
    print_fn("")
    kt.summary(kt.LSTM(1), (None, 3, 1), name="seed", print_fn=print_fn)
    return worst


if __name__ == "__main__":
    diffs = run()
    ok = max(diffs) <= 1e-6
    print(f"\nall four cells agree with Keras (max difference {max(diffs):.3e})" if ok
          else f"\nMISMATCH: {diffs}")
    sys.exit(0 if ok else 1)
