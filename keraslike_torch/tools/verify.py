"""Load a Keras file with Keras itself, as the reference for ``--verify`` and parity tests.

Each file goes to the Keras generation that reads it: Keras 3 for ``.keras`` zips and files
written by Keras 3, tf-keras for every legacy HDF5 file. Configs from before Keras 2.1.3 need one
repair to mean in tf-keras what they meant when written: a GRU config without ``reset_after``
is ``reset_after=False`` (tf-keras would default to True), and ``implementation=0`` (removed
later; the same math as 1) becomes 1. Requires TensorFlow (``pip install keraslike-torch[keras]``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..porting.formats import KerasFile, open_keras_file

__all__ = ["keras_reference", "patch_legacy_config", "compare_with_keras"]


def patch_legacy_config(config: Any, generation: int, dtype: str | None = None) -> Any:
    """Old-Keras config fixes (see the module docstring); with ``dtype`` every floating layer
    dtype becomes it (a float64 reference). Returns a patched copy."""
    if isinstance(config, list):
        return [patch_legacy_config(c, generation, dtype) for c in config]
    if not isinstance(config, dict):
        return config
    out = {k: patch_legacy_config(v, generation, dtype) for k, v in config.items()}
    if dtype is not None and isinstance(out.get("dtype"), str) and out["dtype"].startswith("float"):
        out["dtype"] = dtype
    if dtype is not None and isinstance(out.get("dtype"), dict):
        inner = out["dtype"].get("config")
        if isinstance(inner, dict) and str(inner.get("name", "")).startswith("float"):
            inner["name"] = dtype
    if out.get("class_name") in ("GRU", "CuDNNGRU") and isinstance(out.get("config"), dict):
        cfg = out["config"]
        if out["class_name"] == "GRU" and "reset_after" not in cfg and generation < 3:
            cfg["reset_after"] = False
    if isinstance(out.get("config"), dict) and out["config"].get("implementation") == 0:
        out["config"]["implementation"] = 1
    return out


def keras_reference(path: str | os.PathLike, architecture: str | None = None,
                    custom_objects: dict | None = None, dtype: str | None = None) -> Any:
    """The Keras model of ``path`` (with ``architecture`` JSON for weights-only files). With
    ``dtype="float64"`` a legacy model is rebuilt in float64 (its weights cast on loading)."""
    with open_keras_file(path) as kf:
        kind, generation, config = kf.kind, kf.generation, kf.config
    if kind in ("keras_zip",) or (kind == "legacy_model" and generation == 3):
        import keras

        if dtype is not None:
            raise ValueError("a dtype override is only available for legacy (tf-keras) files")
        return keras.saving.load_model(os.fspath(path), compile=False, custom_objects=custom_objects)
    import tf_keras

    if kind == "saved_model":
        if dtype is not None:
            raise ValueError("a dtype override is only available for HDF5 (tf-keras) files")
        return tf_keras.models.load_model(os.fspath(path), compile=False, custom_objects=custom_objects)
    if kind == "tf_checkpoint" and os.fspath(path).endswith(".index"):
        path = os.fspath(path)[: -len(".index")]  # tf-keras's load_weights takes the prefix
    if kind == "legacy_model":
        patched = patch_legacy_config(config, generation, dtype)
        model = tf_keras.models.model_from_json(json.dumps(patched), custom_objects=custom_objects)
        model.load_weights(os.fspath(path))
        return model
    if architecture is None:
        raise ValueError(f"{os.fspath(path)!r} holds weights only: pass its architecture JSON")
    arch = json.loads(architecture)
    if kind == "keras3_weights":
        import keras

        model = keras.models.model_from_json(architecture, custom_objects=custom_objects)
        model.load_weights(os.fspath(path))
        return model
    gen = KerasFile("json", config=arch).generation
    model = tf_keras.models.model_from_json(json.dumps(patch_legacy_config(arch, gen, dtype)),
                                            custom_objects=custom_objects)
    model.load_weights(os.fspath(path))
    return model


def compare_with_keras(module: Any, keras_model: Any, batch_size: int = 2, time_steps: int = 7,
                       seed: int = 0) -> list[tuple[str, float]]:
    """Run both on the same random inputs; (output name, max |difference|) per output."""
    import torch

    from .testing import _call_keras, _flatten, _to_numpy

    inputs = [t.numpy() for t in module.example_inputs(batch_size=batch_size, time_steps=time_steps, seed=seed)]
    keras_out = _flatten(_call_keras(keras_model, inputs, None, None, False))
    module.eval()
    with torch.no_grad():
        ours = _flatten(module(*[torch.as_tensor(a) for a in inputs]))
    names = list(getattr(keras_model, "output_names", None) or [])
    result = []
    for i, (k, t) in enumerate(zip(keras_out, ours)):
        name = names[i] if i < len(names) and names[i] else f"output[{i}]"
        diff = np.abs(_to_numpy(k).astype(np.float64) - _to_numpy(t).astype(np.float64))
        result.append((str(name), float(diff.max())))
    return result
