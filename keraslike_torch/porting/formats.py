"""Reading Keras files of every generation, without TensorFlow and without executing anything.

Formats are recognized from their bytes, not their names:

* Keras 3 ``.keras``: a zip holding ``config.json``, ``metadata.json`` and ``model.weights.h5``;
* legacy HDF5 full models (Keras 1.x/2.x, tf.keras, Keras 3's legacy writer): root attributes
  ``keras_version``, ``backend``, ``model_config`` and a ``model_weights`` group;
* legacy weights-only HDF5 (``save_weights``): root attribute ``layer_names``;
* Keras 3 ``.weights.h5``: a tree ``layers/<snake_case_class>[_k]/.../vars/<i>``;
* architecture JSON (``model.to_json()``);
* tf.keras SavedModel directories and TF-format weight checkpoints (``prefix.index`` +
  ``prefix.data-*``), recognized from the path: see :mod:`keraslike_torch.porting.tf_formats`.

Only JSON, HDF5 attributes and numeric datasets are read: no pickle, no marshal, no code.
"""

from __future__ import annotations

import contextvars
import io
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import guards
from .guards import KerasFileError, read_attr
from .keras_file import (
    Keras3Weights,
    KerasFile,
    LegacyWeights,
    _chunked_attr,
    _get,
    _group,
    keras_generation_of_version,
)

__all__ = [
    "KerasFileError",
    "KerasFile",
    "LegacyWeights",
    "Keras3Weights",
    "detect_format",
    "open_keras_file",
    "keras_generation_of_version",
]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"

# The size of the weights being read (bytes), while a file is open: converters bound the sizes a
# config may ask for by it (see ConvertContext.param_budget).
_FILE_BYTES: contextvars.ContextVar[int | None] = contextvars.ContextVar("keraslike_torch_file_bytes", default=None)


def open_file_bytes() -> int | None:
    """Bytes of weights in the Keras file being loaded right now (None outside a load)."""
    return _FILE_BYTES.get()


def detect_format(path: str | os.PathLike | bytes) -> str:
    """"keras_zip", "hdf5" or "json", from the file's first bytes."""
    head = path[:4096] if isinstance(path, bytes) else _read_head(path)
    if head.startswith(_ZIP_MAGIC):
        return "keras_zip"
    for offset in (0, 512, 1024, 2048):  # HDF5 allows a user block before the signature
        if head[offset: offset + 8] == _HDF5_MAGIC:
            return "hdf5"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    raise KerasFileError(
        f"{_name(path)} is not a Keras file: expected a Keras 3 zip (.keras), an HDF5 file (.h5) or "
        f"architecture JSON; it starts with {head[:16]!r}"
    )


def _name(path: Any) -> str:
    return "<bytes>" if isinstance(path, bytes) else repr(os.fspath(path))


def _read_head(path: str | os.PathLike) -> bytes:
    guards.check_regular_file(path)  # before open(): a FIFO would block forever
    try:
        with open(path, "rb") as f:
            return f.read(4096)
    except OSError as e:
        raise KerasFileError(f"cannot read {os.fspath(path)!r}: {e}") from None


def _json(text: Any, what: str) -> Any:
    if not isinstance(text, (bytes, str)):
        raise KerasFileError(f"{what} is a {type(text).__name__}, expected JSON text")
    return guards.parse_json(text, what)


def _json_object(text: Any, what: str) -> dict:
    value = _json(text, what)
    if not isinstance(value, dict):
        raise KerasFileError(f"{what} is JSON {type(value).__name__}, expected an object (a Keras model config)")
    return value


@contextmanager
def open_keras_file(path: str | os.PathLike, max_bytes: int | None = None) -> Iterator[KerasFile]:
    """Open any Keras file for reading (HDF5 handles stay open inside the ``with`` block).

    ``path`` may also be a tf.keras SavedModel directory (or its ``saved_model.pb``) or a TF
    checkpoint prefix (or its ``.index``). Untrusted files are safe to open: nothing outside the
    file (the SavedModel's directory, the checkpoint's) is read (HDF5 external storage,
    external/soft links and virtual datasets are refused), zip members are capped at ``max_bytes``
    (default :data:`keraslike_torch.guards.DEFAULT_MAX_BYTES`) and by compression ratio, JSON and
    group trees are depth-limited, and any foreign exception raised while the file is open (also
    inside the ``with`` block) becomes a :class:`KerasFileError` naming the file and the part.
    """
    if max_bytes is None:
        max_bytes = guards.DEFAULT_MAX_BYTES
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
    from .tf_formats import open_tf, tf_kind  # tf_formats builds on this module's KerasFile

    where = _name(path)
    tf = tf_kind(path)
    kind = tf or detect_format(path)  # checks the path is a regular file first
    try:
        with (open_tf(path, kind, max_bytes) if tf else _open(path, kind, where, max_bytes)) as kf:
            token = _FILE_BYTES.set(kf.extra.get("weights_bytes"))
            try:
                yield kf
            finally:
                _FILE_BYTES.reset(token)
    except Exception as e:
        if _ours(e):
            if where not in str(e) and len(e.args) == 1 and isinstance(e.args[0], str):
                e.args = (f"{where}: {e.args[0]}",)  # name the file in our own errors too
            raise
        raise guards.wrap_foreign(e, where) from e


def _ours(e: BaseException) -> bool:
    """Our own clear errors (KerasFileError, UnsupportedLayerError, ...) pass unchanged."""
    return isinstance(e, ValueError) and type(e) is not ValueError and type(e).__module__.startswith(
        "keraslike_torch")


def _check_heaps_of(path: str | os.PathLike, size: int, where: str) -> None:
    import mmap

    if size == 0:
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        guards.check_global_heaps(mm, where)


@contextmanager
def _open(path: str | os.PathLike, kind: str, where: str, max_bytes: int) -> Iterator[KerasFile]:
    import h5py

    if kind == "json":
        size = guards.check_regular_file(path)
        if size > guards.MAX_JSON_BYTES:
            raise KerasFileError(f"{where} is {size} bytes of JSON; refusing more than {guards.MAX_JSON_BYTES}")
        with open(path, "rb") as f:
            config = _json_object(f.read(guards.MAX_JSON_BYTES + 1), where)
        yield KerasFile("json", config=config, keras_version=config.get("keras_version"))
        return
    if kind == "keras_zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
            raise KerasFileError(f"{where} is a corrupt or truncated .keras zip: {e}") from None
        with archive:
            members = set(archive.namelist())
            if "config.json" not in members:
                raise KerasFileError(f"{where} is a zip without config.json: not a Keras 3 model file")
            with guards.reading("config.json"):
                config = _json_object(guards.zip_read(archive, "config.json", where, max_bytes),
                                      f"config.json in {where}")
            meta: Any = {}
            if "metadata.json" in members:
                meta = _json_object(guards.zip_read(archive, "metadata.json", where, max_bytes),
                                    f"metadata.json in {where}")
            if "model.weights.h5" not in members:
                if "model.weights.npz" in members:
                    raise KerasFileError(f"{where} stores weights as npz; only h5 weights are supported")
                raise KerasFileError(f"{where} has no model.weights.h5")
            raw = guards.zip_read(archive, "model.weights.h5", where, max_bytes)
        inner = f"model.weights.h5 in {where}"
        guards.check_global_heaps(raw, inner)
        try:
            h5 = h5py.File(io.BytesIO(raw), "r")
        except guards.H5_ERRORS as e:
            raise KerasFileError(f"{inner} is corrupt: {e}") from None
        with h5:
            guards.audit_hdf5(h5, inner)
            version = meta.get("keras_version")
            yield KerasFile("keras_zip", config=config, keras_version=None if version is None else str(version),
                            weights=Keras3Weights(h5, inner, len(raw)), extra={"weights_bytes": len(raw)})
        return
    size = guards.check_regular_file(path)
    _check_heaps_of(path, size, where)
    try:
        h5 = h5py.File(path, "r")
    except guards.H5_ERRORS as e:
        raise KerasFileError(f"{where} is a corrupt or truncated HDF5 file: {e}") from None
    with h5:
        guards.audit_hdf5(h5, where)
        extra = {"weights_bytes": size}
        version = read_attr(h5, "keras_version", where)
        backend = read_attr(h5, "backend", where)
        version = None if version is None else str(version)
        model_config = read_attr(h5, "model_config", where)
        if model_config is not None:
            config = _json_object(model_config, f"model_config of {where}")
            group = _get(h5, "model_weights", "model_weights group", where) if "model_weights" in h5 else h5
            group = _group(group, f"model_weights of {where}")
            names = _chunked_attr(group, "layer_names", f"model_weights of {where}")
            if names is None:
                raise KerasFileError(f"{where} has a model_config but no layer_names for its weights")
            yield KerasFile("legacy_model", config=config, keras_version=version, backend=backend,
                            weights=LegacyWeights(group, names, version, backend, where=where, file_size=size),
                            extra=extra)
            return
        names = _chunked_attr(h5, "layer_names", where)
        if names is not None:
            yield KerasFile("legacy_weights", keras_version=version, backend=backend,
                            weights=LegacyWeights(h5, names, version, backend, where=where, file_size=size),
                            extra=extra)
            return
        if "layers" in h5 or "vars" in h5:
            yield KerasFile("keras3_weights", weights=Keras3Weights(h5, where, size), extra=extra)
            return
        raise KerasFileError(
            f"{where} is an HDF5 file but not a Keras one (no model_config, layer_names or "
            "Keras 3 weight tree)"
        )
