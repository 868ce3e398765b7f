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
import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import guards
from .guards import KerasFileError, read_attr

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


def keras_generation_of_version(version: str | None) -> int:
    """1, 2 or 3 from a ``keras_version`` string ("2.1.5", "2.2.4-tf", "3.15.1"); None -> 2."""
    if not version:
        return 2
    try:
        major = int(str(version).strip().split(".")[0])
    except ValueError:
        return 2
    return major if major in (1, 2, 3) else (3 if major > 3 else 2)


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


def _chunked_attr(group: Any, name: str, where: str) -> list[str] | None:
    """Keras splits long attribute lists into ``name0``, ``name1``, ..."""
    value = read_attr(group, name, where)
    if value is not None:
        return [str(x) for x in (value if isinstance(value, list) else [value])]
    out: list[str] | None = None
    i = 0
    while (value := read_attr(group, f"{name}{i}", where)) is not None:
        out = out or []
        out.extend(str(x) for x in (value if isinstance(value, list) else [value]))
        i += 1
    return out


def _get(group: Any, name: str, what: str, where: str) -> Any:
    """``group[name]`` (the tree was audited at open: no links out of the file, no cycles)."""
    try:
        return group[name]
    except (KeyError, ValueError, OSError, RuntimeError, TypeError):
        raise KerasFileError(f"{where} has no {what}") from None


def _group(obj: Any, what: str) -> Any:
    import h5py

    if not isinstance(obj, h5py.Group):
        raise KerasFileError(f"{what} is an HDF5 {type(obj).__name__}, expected a group")
    return obj


@dataclass
class LegacyWeights:
    """Weights of a legacy HDF5 file: per layer, arrays in ``weight_names`` order."""

    group: Any
    layer_names: list[str]
    keras_version: str | None
    backend: str | None
    _names: dict[str, list[str]] = field(default_factory=dict, repr=False)
    where: str = "the file"
    file_size: int | None = None

    def _layer_group(self, layer: str) -> Any:
        g = _get(self.group, layer, f"group for layer {layer!r} (listed in layer_names)", self.where)
        return _group(g, f"layer {layer!r} of {self.where}")

    def weight_names(self, layer: str) -> list[str]:
        if layer not in self._names:
            self._names[layer] = _chunked_attr(self._layer_group(layer), "weight_names",
                                               f"layer {layer!r} of {self.where}") or []
        return self._names[layer]

    def arrays(self, layer: str) -> list[np.ndarray]:
        g = self._layer_group(layer)
        out = []
        for n in self.weight_names(layer):
            ds = _get(g, n, f"weight {n!r} of layer {layer!r} (listed in weight_names)", self.where)
            out.append(guards.read_dataset(ds, f"weight {n!r} of layer {layer!r} in {self.where}", self.file_size))
        return out

    def layers_with_weights(self) -> list[str]:
        return [n for n in self.layer_names if self.weight_names(n)]


@dataclass
class Keras3Weights:
    """Weights of a Keras 3 file (``model.weights.h5`` or ``.weights.h5``): a group tree."""

    root: Any
    where: str = "the weights file"
    file_size: int | None = None

    def _at(self, path: str) -> Any:
        return _get(self.root, path, f"group {path!r}", self.where) if path else self.root

    def has(self, path: str) -> bool:
        if not path:
            return True
        try:
            return path in self.root
        except (ValueError, OSError, RuntimeError, TypeError):
            return False

    def vars(self, path: str) -> list[np.ndarray]:
        """The arrays ``<path>/vars/0..n-1`` (empty when the group has none)."""
        key = f"{path}/vars" if path else "vars"
        if not self.has(key):
            return []
        g = _group(self._at(key), f"{key!r} of {self.where}")
        names = sorted(g.keys(), key=lambda k: int(k) if k.isdigit() else 1 << 30)
        return [guards.read_dataset(_get(g, n, f"{key}/{n}", self.where), f"{key}/{n} of {self.where}",
                                    self.file_size) for n in names]

    def name_at(self, path: str) -> str | None:
        key = f"{path}/vars" if path else "vars"
        if self.has(key):
            name = read_attr(self._at(key), "name", f"{key!r} of {self.where}")
            return str(name) if name is not None else None
        return None

    def children(self, path: str) -> list[str]:
        import h5py

        g = self._at(path)
        return [k for k in g.keys() if k != "vars"] if isinstance(g, h5py.Group) else []


@dataclass
class KerasFile:
    """What a Keras file holds: its kind, model config (if any), Keras version and weights."""

    kind: str  # "keras_zip", "legacy_model", "legacy_weights", "keras3_weights", "json", "saved_model", "tf_checkpoint"
    config: dict | None = None
    keras_version: str | None = None
    backend: str | None = None
    weights: LegacyWeights | Keras3Weights | None = None
    extra: dict = field(default_factory=dict)

    @property
    def generation(self) -> int:
        if self.kind in ("keras_zip", "keras3_weights"):
            return 3
        if self.config is not None and self.keras_version is None:
            return _generation_of_config(self.config)
        return keras_generation_of_version(self.keras_version)


def _generation_of_config(config: dict) -> int:
    """Guess the Keras generation of an architecture JSON without a version."""
    version = config.get("keras_version")
    if version:
        return keras_generation_of_version(version)
    text = json.dumps(config)[:200000]
    # tf-keras 2.13+ also writes "module", "registered_name" and "build_config" keys; only Keras 3
    # writes DTypePolicy dtypes, __keras_tensor__ node arguments and InputLayer "batch_shape".
    if '"DTypePolicy"' in text or "__keras_tensor__" in text or '"batch_shape"' in text:
        return 3
    return 2


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
