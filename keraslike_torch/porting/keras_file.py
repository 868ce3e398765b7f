"""What an opened Keras file is, whatever its format: :class:`KerasFile` (config, Keras version,
weights store) and the weights stores, :class:`LegacyWeights` (HDF5 groups per layer, as Keras 1/2
and Keras 3's legacy .h5 write them; TF tensor bundles subclass it) and :class:`Keras3Weights`
(Keras 3's ``.weights.h5`` variable tree). The readers that make them are
:mod:`keraslike_torch.porting.formats` (HDF5, zip, JSON) and :mod:`keraslike_torch.porting.tf_formats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import guards
from .guards import KerasFileError, read_attr

__all__ = ["KerasFile", "LegacyWeights", "Keras3Weights", "keras_generation_of_version", "generation_of_config"]


def keras_generation_of_version(version: str | None) -> int:
    """1, 2 or 3 from a ``keras_version`` string ("2.1.5", "2.2.4-tf", "3.15.1"); None -> 2."""
    if not version:
        return 2
    try:
        major = int(str(version).strip().split(".")[0])
    except ValueError:
        return 2
    return major if major in (1, 2, 3) else (3 if major > 3 else 2)


def generation_of_config(config: dict) -> int:
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
            return generation_of_config(self.config)
        return keras_generation_of_version(self.keras_version)
