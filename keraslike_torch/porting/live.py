"""Live Keras objects -> torch modules (``from_keras``).

The config goes through the same converter registry as Keras files
(:mod:`keraslike_torch.converters`), and the weights through the module's
``set_keras_weights``: one conversion for every route.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .loading import model_from_keras_object
from .registry import ConvertContext, convert_layer

__all__ = ["from_keras", "keras_generation"]


def from_keras(obj: Any) -> nn.Module:
    """Build the torch module for a live Keras 3 or tf-keras layer (or model), with its weights
    and dtype. A tf-keras object means Keras 2 semantics (``"hard_sigmoid"`` is the 0.2 slope).
    The module is returned in eval mode (a Keras layer called outside ``fit`` runs in inference
    mode); ``.train()`` turns dropout on.

    >>> import keras, numpy as np, keraslike_torch as kt            # doctest: +SKIP
    >>> layer = keras.layers.GRU(3); _ = layer(np.zeros((1, 2, 4)))    # doctest: +SKIP
    >>> kt.from_keras(layer).count_params() == layer.count_params()    # doctest: +SKIP
    True
    """
    generation = keras_generation(obj)
    if _is_model(obj):
        return model_from_keras_object(obj, generation)
    ctx = ConvertContext(keras_version=generation)
    module = convert_layer(type(obj).__name__, obj.get_config(), ctx)
    weights = obj.get_weights()
    if weights:
        module.set_keras_weights(weights)  # type: ignore[operator]
    return module.eval()


def _is_model(obj: Any) -> bool:
    return hasattr(obj, "layers") and hasattr(obj, "inputs") and hasattr(obj, "outputs")


def keras_generation(obj: Any) -> int:
    """3 for a Keras 3 object, 2 for tf-keras / tf.keras / standalone Keras 2."""
    module = type(obj).__module__
    if module.startswith(("tf_keras", "tensorflow")):
        return 2
    if module.startswith("keras"):
        return 3 if _keras_is_3() else 2
    raise TypeError(f"{type(obj).__name__} is not a Keras object")


def _keras_is_3() -> bool:
    try:
        import keras

        return int(keras.__version__.split(".")[0]) >= 3
    except Exception:  # pragma: no cover
        return False
