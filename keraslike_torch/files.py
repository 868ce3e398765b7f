"""Reading Keras files of every generation, without TensorFlow and without executing anything.

Formats are recognized from their bytes, not their names:

* Keras 3 ``.keras``: a zip holding ``config.json``, ``metadata.json`` and ``model.weights.h5``;
* legacy HDF5 full models (Keras 1.x/2.x, tf.keras, Keras 3's legacy writer): root attributes
  ``keras_version``, ``backend``, ``model_config`` and a ``model_weights`` group;
* legacy weights-only HDF5 (``save_weights``): root attribute ``layer_names``;
* Keras 3 ``.weights.h5``: a tree ``layers/<snake_case_class>[_k]/.../vars/<i>``;
* architecture JSON (``model.to_json()``).

Only JSON, HDF5 attributes and numeric datasets are read: no pickle, no marshal, no code.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
_MAX_MEMBER_BYTES = 64 * 2**30  # refuse zip members that claim more than 64 GiB (zip bombs)


class KerasFileError(ValueError):
    """A file that is not a readable Keras file: unknown format, corrupt, truncated or inconsistent."""


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
    try:
        with open(path, "rb") as f:
            return f.read(4096)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such Keras file: {os.fspath(path)!r}") from None
    except IsADirectoryError:
        raise KerasFileError(
            f"{os.fspath(path)!r} is a directory (a TensorFlow SavedModel?); only .keras, .h5 and "
            "JSON files can be read"
        ) from None


def _decode(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.size == 0:
        return []
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SOU":
        return [_decode(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _chunked_attr(group: Any, name: str) -> list[str] | None:
    """Keras splits long attribute lists into ``name0``, ``name1``, ..."""
    if name in group.attrs:
        value = _decode(group.attrs[name])
        return [str(x) for x in (value if isinstance(value, list) else [value])]
    if f"{name}0" not in group.attrs:
        return None
    out: list[str] = []
    i = 0
    while f"{name}{i}" in group.attrs:
        value = _decode(group.attrs[f"{name}{i}"])
        out.extend(str(x) for x in (value if isinstance(value, list) else [value]))
        i += 1
    return out


def _dataset_array(ds: Any, where: str) -> np.ndarray:
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise KerasFileError(f"{where} is not an array")
    dtype = ds.dtype
    if dtype.kind not in "fiub":
        raise KerasFileError(f"{where} holds {dtype} data, not numbers")
    try:
        out = np.empty(ds.shape, dtype=dtype)
        if out.size:
            ds.read_direct(out)
        return out
    except OSError as e:
        raise KerasFileError(f"cannot read {where}: {e} (truncated or corrupt file?)") from None


@dataclass
class LegacyWeights:
    """Weights of a legacy HDF5 file: per layer, arrays in ``weight_names`` order."""

    group: Any
    layer_names: list[str]
    keras_version: str | None
    backend: str | None
    _names: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def _layer_group(self, layer: str) -> Any:
        try:
            return self.group[layer]
        except KeyError:
            raise KerasFileError(f"the file lists layer {layer!r} but has no group for it") from None

    def weight_names(self, layer: str) -> list[str]:
        if layer not in self._names:
            self._names[layer] = _chunked_attr(self._layer_group(layer), "weight_names") or []
        return self._names[layer]

    def arrays(self, layer: str) -> list[np.ndarray]:
        g = self._layer_group(layer)
        out = []
        for n in self.weight_names(layer):
            try:
                ds = g[n]
            except KeyError:
                raise KerasFileError(f"weight {n!r} of layer {layer!r} is missing from the file") from None
            out.append(_dataset_array(ds, f"weight {n!r} of layer {layer!r}"))
        return out

    def layers_with_weights(self) -> list[str]:
        return [n for n in self.layer_names if self.weight_names(n)]


@dataclass
class Keras3Weights:
    """Weights of a Keras 3 file (``model.weights.h5`` or ``.weights.h5``): a group tree."""

    root: Any

    def has(self, path: str) -> bool:
        return path in self.root if path else True

    def vars(self, path: str) -> list[np.ndarray]:
        """The arrays ``<path>/vars/0..n-1`` (empty when the group has none)."""
        key = f"{path}/vars" if path else "vars"
        if key not in self.root:
            return []
        g = self.root[key]
        names = sorted(g.keys(), key=lambda k: int(k) if k.isdigit() else 1 << 30)
        return [_dataset_array(g[n], f"{key}/{n}") for n in names]

    def name_at(self, path: str) -> str | None:
        key = f"{path}/vars" if path else "vars"
        if key in self.root:
            name = _decode(self.root[key].attrs.get("name"))
            return str(name) if name is not None else None
        return None

    def children(self, path: str) -> list[str]:
        g = self.root[path] if path else self.root
        return [k for k in g.keys() if k != "vars"]


@dataclass
class KerasFile:
    """What a Keras file holds: its kind, model config (if any), Keras version and weights."""

    kind: str  # "keras_zip", "legacy_model", "legacy_weights", "keras3_weights", "json"
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


def _json(text: bytes | str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise KerasFileError(f"{what} is not valid JSON: {e}") from None


@contextmanager
def open_keras_file(path: str | os.PathLike) -> Iterator[KerasFile]:
    """Open any Keras file for reading (HDF5 handles stay open inside the ``with`` block)."""
    import h5py

    kind = detect_format(path)
    if kind == "json":
        with open(path, "rb") as f:
            config = _json(f.read(), _name(path))
        if not isinstance(config, dict):
            raise KerasFileError(f"{_name(path)} is JSON but not a Keras model config")
        yield KerasFile("json", config=config, keras_version=config.get("keras_version"))
        return
    if kind == "keras_zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            raise KerasFileError(f"{_name(path)} is a corrupt or truncated .keras zip: {e}") from None
        with archive:
            members = set(archive.namelist())
            if "config.json" not in members:
                raise KerasFileError(f"{_name(path)} is a zip without config.json: not a Keras 3 model file")
            config = _json(_zip_read(archive, "config.json"), "config.json")
            meta = _json(_zip_read(archive, "metadata.json"), "metadata.json") if "metadata.json" in members else {}
            weights_name = next((n for n in ("model.weights.h5",) if n in members), None)
            if weights_name is None:
                if "model.weights.npz" in members:
                    raise KerasFileError(f"{_name(path)} stores weights as npz; only h5 weights are supported")
                raise KerasFileError(f"{_name(path)} has no model.weights.h5")
            data = io.BytesIO(_zip_read(archive, weights_name))
        try:
            h5 = h5py.File(data, "r")
        except OSError as e:
            raise KerasFileError(f"model.weights.h5 inside {_name(path)} is corrupt: {e}") from None
        with h5:
            yield KerasFile("keras_zip", config=config, keras_version=meta.get("keras_version"),
                            weights=Keras3Weights(h5))
        return
    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise KerasFileError(f"{_name(path)} is a corrupt or truncated HDF5 file: {e}") from None
    with h5:
        wanted = ("keras_version", "backend", "model_config")
        attrs = {k: _decode(v) for k, v in h5.attrs.items() if k in wanted}
        version = attrs.get("keras_version")
        backend = attrs.get("backend")
        if "model_config" in attrs:
            config = _json(attrs["model_config"], f"model_config of {_name(path)}")
            group = h5["model_weights"] if "model_weights" in h5 else h5
            names = _chunked_attr(group, "layer_names")
            if names is None:
                raise KerasFileError(f"{_name(path)} has a model_config but no layer_names for its weights")
            yield KerasFile("legacy_model", config=config, keras_version=version, backend=backend,
                            weights=LegacyWeights(group, names, version, backend))
            return
        names = _chunked_attr(h5, "layer_names")
        if names is not None:
            yield KerasFile("legacy_weights", keras_version=version, backend=backend,
                            weights=LegacyWeights(h5, names, version, backend))
            return
        if "layers" in h5 or "vars" in h5:
            yield KerasFile("keras3_weights", weights=Keras3Weights(h5))
            return
        raise KerasFileError(
            f"{_name(path)} is an HDF5 file but not a Keras one (no model_config, layer_names or "
            "Keras 3 weight tree)"
        )


def _zip_read(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > _MAX_MEMBER_BYTES:
        raise KerasFileError(f"{name} claims {info.file_size} bytes: refusing (zip bomb?)")
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise KerasFileError(f"cannot read {name} from the .keras zip: {e} (truncated or corrupt?)") from None
