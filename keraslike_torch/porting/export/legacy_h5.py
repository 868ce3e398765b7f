"""The legacy HDF5 writer: a full-model ``.h5`` as tf-keras 2.x ``model.save("x.h5")`` writes it
(root attrs model_config, keras_version, backend; group model_weights with layer_names and one
group per layer holding weight_names and the arrays), with json and h5py only."""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
from torch import nn

from ..graph import GraphNode, KerasModel, Ref
from ..layouts import from_keras_layout, legacy_weight_names
from .configs import layer_config
from .keras3 import add_inner_build_configs
from .structure import ExportGraph, export_graph

__all__ = ["TF_KERAS_VERSION", "legacy_model_config", "write_legacy_h5"]

TF_KERAS_VERSION = "2.21.0"  # the tf-keras whose file layout this writer reproduces (checked in the tests)
_HEADER_LIMIT = 64512  # tf-keras's HDF5_OBJECT_HEADER_LIMIT: longer attributes are chunked


def _inbound(node: GraphNode, nested: set[str]) -> list[list[Any]]:
    return [[r.layer, _node_index(r, nested), r.tensor, {}] for r in node.args if isinstance(r, Ref)]


def _node_index(ref: Ref, nested: set[str]) -> int:
    """tf-keras counts a nested model's own first call (its Input to its outputs), which the
    parent's config leaves out, in references to its calls (the loader's _skips_first_node)."""
    return ref.node + 1 if ref.layer in nested else ref.node


def _entry(name: str, module: nn.Module, graph: ExportGraph, sequential: bool, nested: set[str]) -> dict[str, Any]:
    if isinstance(module, KerasModel):
        entry = legacy_model_config(module)
    else:
        full = layer_config(module, 2, name)
        shape = graph.input_shape(name)
        if shape is not None:
            add_inner_build_configs(full, shape, 2)
        entry = {"class_name": full["class_name"], "config": full["config"]}
    if not sequential:
        entry["name"] = name
        entry["inbound_nodes"] = [_inbound(n, nested) for n in graph.nodes.get(name, [])]
    return entry


def _input_entry(spec: Any, sequential: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"class_name": "InputLayer", "config": {
        "batch_input_shape": list(spec.shape), "dtype": spec.dtype, "sparse": False, "ragged": False,
        "name": spec.name, "optional": False}}
    if not sequential:
        entry.update(name=spec.name, inbound_nodes=[])
    return entry


def _io(refs: Any, nested: set[str]) -> Any:
    if isinstance(refs, Ref):
        return [refs.layer, _node_index(refs, nested), refs.tensor]
    if isinstance(refs, dict):
        return {k: _io(v, nested) for k, v in refs.items()}
    return [_io(r, nested) for r in refs]


def legacy_model_config(module: nn.Module, graph: ExportGraph | None = None) -> dict[str, Any]:
    """The ``model_config`` attribute tf-keras writes (``{"class_name", "config"}``)."""
    graph = graph or export_graph(module, 2)
    model = graph.model
    specs = {s.name: s for s in graph.inputs}
    sequential = model.keras_class == "Sequential" and len(specs) == 1
    layers = []
    nested = {n for n, m in graph.layers() if isinstance(m, KerasModel)}
    for name, m in graph.layers():
        if m is None:
            if not sequential:
                layers.append(_input_entry(specs[name], False))
            continue
        layers.append(_entry(name, m, graph, sequential, nested))
    if sequential:
        layers.insert(0, _input_entry(next(iter(specs.values())), True))
        return {"class_name": "Sequential", "config": {"name": model.name, "layers": layers}}
    return {"class_name": "Functional", "config": {
        "name": model.name, "trainable": True, "layers": layers,
        "input_layers": _io(model.input_refs, nested), "output_layers": _io(model.output_refs, nested)}}


def save_attribute(group: h5py.Group, name: str, data: list[str]) -> None:
    """An attribute list as tf-keras stores it: chunked as ``name0, name1, ...`` past the HDF5
    object header limit."""
    too_long = [x for x in data if len(x.encode("utf8")) > _HEADER_LIMIT]
    if too_long:
        raise ValueError(f"names longer than {_HEADER_LIMIT} bytes cannot be stored in HDF5: {too_long[0][:80]!r}...")
    array = np.array(data, dtype=h5py.string_dtype())
    chunks = 1
    parts = np.array_split(array, chunks)
    while any(sum(len(x.encode("utf8")) for x in p) > _HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(array, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part
    else:
        group.attrs[name] = array if len(data) else np.asarray([], dtype="float64")


def _write_layer(group: h5py.Group, name: str, module: nn.Module | None) -> None:
    g = group.create_group(name)
    if module is None or not callable(getattr(module, "get_keras_weights", None)):
        save_attribute(g, "weight_names", [])
        return
    arrays = from_keras_layout(module, module.get_keras_weights(), 2)  # type: ignore[operator]
    names = legacy_weight_names(module, name)
    save_attribute(g, "weight_names", names)
    for n, a in zip(names, arrays):
        g.create_dataset(n, data=np.asarray(a))


def write_legacy_h5(module: nn.Module, path: str) -> None:
    """Write ``module`` as a tf-keras 2.x full-model ``.h5`` file."""
    graph = export_graph(module, 2)
    config = legacy_model_config(module, graph)
    sequential = config["class_name"] == "Sequential"
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = TF_KERAS_VERSION
        f.attrs["model_config"] = json.dumps(config)
        weights = f.create_group("model_weights")
        layers = [(n, m) for n, m in graph.layers() if not (m is None and sequential)]
        save_attribute(weights, "layer_names", [n for n, _ in layers])
        weights.attrs["backend"] = "tensorflow"
        weights.attrs["keras_version"] = TF_KERAS_VERSION
        for n, m in layers:
            _write_layer(weights, n, m)
        save_attribute(weights.create_group("top_level_model_weights"), "weight_names", [])
