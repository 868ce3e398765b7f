"""Whole Keras model files and live Keras models -> KerasModel (config + weights, in eval mode)."""

from __future__ import annotations

import os
from typing import Any

from .builders import MODEL_CLASSES, model_from_config
from .formats import KerasFileError, open_keras_file
from .graph import KerasModel, assign_atomically
from .registry import ConvertContext
from .weights import plan_from_file

__all__ = ["load_model", "model_from_keras_object"]


def load_model(path: str | os.PathLike, custom_objects: dict | None = None,
               max_bytes: int | None = None) -> KerasModel:
    """Load a whole Keras model file without TensorFlow: Keras 3 ``.keras`` zips and legacy HDF5
    from Keras 1.x/2.x, tf.keras and Keras 3's legacy writer. The format is read from the bytes.
    ``custom_objects`` maps a Keras class name (or layer name) to a torch module replacing it.
    The model is returned in eval mode, as Keras's ``predict`` runs it (``.train()`` for training).
    ``max_bytes`` caps what a zip member may inflate to (default 8 GiB,
    :data:`keraslike_torch.porting.guards.DEFAULT_MAX_BYTES`); see the README's "Loading untrusted files".

    >>> import keraslike_torch as kt                                     # doctest: +SKIP
    >>> model = kt.load_model("../shared/models/lens_poem_simplernn/char_rnn.h5")  # doctest: +SKIP
    """
    with open_keras_file(path, max_bytes) as kf:
        if kf.config is None:
            raise KerasFileError(
                f"{os.fspath(path)!r} holds weights only; build the model with kt.model_from_json(...) "
                "and use kt.load_weights(model, path)"
            )
        if kf.kind == "json":
            raise KerasFileError(f"{os.fspath(path)!r} holds an architecture only: use kt.model_from_json")
        config = kf.config
        if "class_name" not in config and "config" not in config:
            raise KerasFileError(f"{os.fspath(path)!r}: model config without class_name")
        ctx = ConvertContext(keras_version=kf.generation, custom_objects=dict(custom_objects or {}))
        model = model_from_config(config, ctx=ctx)
        plan = plan_from_file(model, kf, by_name=False)
        assign_atomically(plan, check=False)  # a fresh model: an error discards it anyway
        model.check_fits()
    return model.eval()


def model_from_keras_object(obj: Any, generation: int) -> KerasModel:
    """A live Keras model -> KerasModel (config + weights), used by :func:`from_keras`."""
    config = {"class_name": type(obj).__name__, "config": obj.get_config()}
    if config["class_name"] not in MODEL_CLASSES:
        config["class_name"] = "Functional"
    ctx = ConvertContext(keras_version=generation)
    model = model_from_config(config, ctx=ctx)
    model.set_keras_weights(obj.get_weights())
    return model.eval()
