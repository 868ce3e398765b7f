"""``save_keras``: one entry point for both formats, picked by the file name, with a check that
the written file computes what the module computes before it replaces anything."""

from __future__ import annotations

import os
import tempfile

import torch
from torch import nn

from ..loading import load_model
from .configs import ExportError
from .keras3 import write_keras3
from .legacy_h5 import write_legacy_h5
from .structure import as_keras_model, example_inputs

__all__ = ["save_keras", "generation_of_path"]


def generation_of_path(path: str | os.PathLike) -> int:
    """3 for ``.keras``, 2 for ``.h5`` / ``.hdf5`` (tf-keras); anything else is an error."""
    name = os.fspath(path).lower()
    if name.endswith(".keras"):
        return 3
    if name.endswith((".h5", ".hdf5")):
        return 2
    raise ValueError(f"save_keras writes .keras (Keras 3) or .h5 (tf-keras 2.x) files, not {os.fspath(path)!r}")


def _outputs(model: nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        model.train(was)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_written(module: nn.Module, path: str, label: str) -> None:
    """Load the written file with kt.load_model (the loader reproduces the numbers of the Keras
    generation that the file names) and compare it with the module on padded example inputs."""

    model = as_keras_model(module)
    loaded = load_model(path)
    free_time = any(len(s.shape) > 1 and s.shape[1] is None for s in model.input_specs)
    for batch, steps in ((3, 5), (2, 1)) if free_time else ((3, 5),):
        inputs = example_inputs(model, batch, steps, seed=batch)
        want, got = _outputs(model, inputs), _outputs(loaded, [x.clone() for x in inputs])
        if len(want) != len(got):
            raise ExportError(f"{label}: the written model returns {len(got)} outputs, the module {len(want)}")
        for i, (w, g) in enumerate(zip(want, got)):
            tol = 1e-12 if w.dtype == torch.float64 else 1e-5
            if w.shape != g.shape or not torch.allclose(w, g.to(w.dtype), rtol=tol, atol=tol, equal_nan=True):
                raise ExportError(
                    f"{label}: output {i} of the written model differs from the module's (the target "
                    "generation computes this graph differently, e.g. its masks); nothing was written"
                )


def save_keras(module: nn.Module, path: str | os.PathLike, *, verify: bool = True) -> None:
    """Write a kt module as a Keras file without TensorFlow or Keras: ``.keras`` (Keras 3 zip)
    or ``.h5`` (tf-keras 2.x full model). Works for models from ``kt.load_model`` /
    ``kt.model_from_json`` (after training in torch), single kt layers and ``nn.Sequential``
    chains of them. With ``verify`` (default) the file is read back with ``kt.load_model`` and
    must give the module's outputs before it replaces ``path``; on any error nothing is written.

    >>> import keraslike_torch as kt, tempfile, os                  # doctest: +SKIP
    >>> model = kt.load_model("model.h5")                           # doctest: +SKIP
    >>> kt.save_keras(model, "tuned.keras")                         # doctest: +SKIP
    >>> keras.models.load_model("tuned.keras", safe_mode=True)      # doctest: +SKIP
    """
    generation = generation_of_path(path)
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(target)[1], dir=folder)
    os.close(fd)
    try:
        (write_keras3 if generation == 3 else write_legacy_h5)(module, tmp)
        if verify:
            check_written(module, tmp, f"saving {type(module).__name__} to {target!r}")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


