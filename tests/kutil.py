"""Helpers to build Keras reference layers in tests (both generations)."""

from __future__ import annotations

from typing import Any

import numpy as np

KERAS_RNN = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "SimpleRNN"}


def generation(K: Any) -> int:
    return 3 if K.__name__ == "keras" else 2


def build_keras_rnn(K: Any, kind: str, units: int, features: int, dtype: str, rng: np.random.Generator,
                    scale: float | None = None, batch: int | None = None, **kw: Any) -> Any:
    """A built Keras RNN layer with random (not initializer-drawn) weights, biases included.

    The default scale keeps the recurrence from being chaotic (spectral norm of the recurrent
    kernel around 1), where float32 rounding differences would grow exponentially for any two
    implementations, however exact.
    """
    layer = getattr(K.layers, kind)(units, dtype=dtype, **kw)
    layer.build((batch, None, features))
    if scale is None:
        scale = 1.5 / np.sqrt(features + units)
    layer.set_weights([(rng.standard_normal(w.shape) * scale).astype(dtype) for w in layer.get_weights()])
    return layer


def torch_dtype(dtype: str):
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[dtype]
