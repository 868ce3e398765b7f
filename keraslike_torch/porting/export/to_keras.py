"""``to_keras``: the live Keras object for a kt module, through the file ``save_keras`` writes
(one writer), loaded by Keras itself."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from torch import nn

from ..graph import KerasModel
from .configs import ExportError
from .keras3 import keras3_model_config
from .save import save_keras

__all__ = ["to_keras"]


def _keras3_can_express(module: nn.Module) -> bool:
    try:
        keras3_model_config(module)
    except ExportError:
        return False
    return True


def to_keras(module: nn.Module, generation: int | None = None) -> Any:
    """The Keras object for ``module``, weights set, same numbers: a Keras 3 model or layer by
    default, tf-keras when ``generation=2`` or when the module needs Keras 2 semantics (the
    0.2-slope hard_sigmoid, time_major). A single kt layer comes back as the Keras layer, a
    model as the Keras model. Needs keras (3) or tf_keras installed.

    >>> import keraslike_torch as kt                                   # doctest: +SKIP
    >>> layer = kt.to_keras(kt.LSTM(4, input_size=3))                  # doctest: +SKIP
    >>> type(layer).__name__                                           # doctest: +SKIP
    'LSTM'
    """
    if generation is None:
        generation = 3 if _keras3_can_express(module) else 2
    if generation not in (2, 3):
        raise ValueError(f"generation must be 2 (tf-keras) or 3 (Keras 3), got {generation!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras" if generation == 3 else "model.h5")
        save_keras(module, path)
        if generation == 3:
            import keras

            model = keras.models.load_model(path, safe_mode=True, compile=False)
        else:
            import tf_keras

            model = tf_keras.models.load_model(path, compile=False)
    if isinstance(module, (KerasModel, nn.Sequential)):
        return model
    return model.layers[-1]
