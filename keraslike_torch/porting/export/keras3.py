"""The Keras 3 ``.keras`` writer: a zip of config.json, metadata.json and model.weights.h5, as
``keras.saving.save_model`` (Keras 3.15) writes them, with json and h5py only."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from typing import Any

import h5py
import numpy as np
from torch import nn

from ...layers import KerasOp
from ..graph import GraphNode, KerasModel, Ref
from ..layouts import from_keras_layout, keras3_var_groups
from .configs import dtype_config, dtype_name, layer_config, op_config, snake_case
from .structure import ExportGraph, export_graph

__all__ = ["KERAS3_VERSION", "keras3_model_config", "write_keras3"]

KERAS3_VERSION = "3.15.1"  # the Keras whose file layout this writer reproduces (checked in the tests)

# Keras 3 layers whose config carries no build_config (their ``build`` is Layer's own).
_NO_BUILD_CONFIG = {"Masking", "Dropout", "Activation", "SpatialDropout1D", "GaussianNoise",
                    "GaussianDropout", "RepeatVector", "Flatten", "Reshape", "Permute"}


def _tensor(ref: Ref, graph: ExportGraph) -> dict[str, Any]:
    shape, dtype = graph.shapes.get(ref, ((None,), "float32"))
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(shape), "dtype": dtype, "keras_history": [ref.layer, ref.node, ref.tensor]}}


def _serialize(value: Any, graph: ExportGraph) -> Any:
    if isinstance(value, Ref):
        return _tensor(value, graph)
    if isinstance(value, (list, tuple)):
        return [_serialize(v, graph) for v in value]
    if isinstance(value, dict):
        return {k: _serialize(v, graph) for k, v in value.items()}
    return value


def _node(node: GraphNode, graph: ExportGraph) -> dict[str, Any]:
    return {"args": _serialize(list(node.args), graph), "kwargs": _serialize(dict(node.kwargs), graph)}


def _input_entry(spec: Any, sequential: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": list(spec.shape), "dtype": spec.dtype, "sparse": False, "ragged": False,
                   "name": spec.name, "optional": False},
        "registered_name": None,
    }
    if not sequential:
        entry.update(name=spec.name, inbound_nodes=[])
    return entry


def _layer_entry(name: str, module: nn.Module, graph: ExportGraph) -> dict[str, Any]:
    if isinstance(module, KerasModel):
        entry = keras3_model_config(module)
    elif isinstance(module, KerasOp):
        entry = op_config(module)
        entry["config"]["name"] = name
    else:
        entry = layer_config(module, 3, name)
        shape = graph.input_shape(name)
        if entry["class_name"] not in _NO_BUILD_CONFIG and shape is not None:
            entry["build_config"] = _build_config(name, shape, graph)
            add_inner_build_configs(entry, shape)
    if graph.model.keras_class != "Sequential":
        entry["name"] = name
        entry["inbound_nodes"] = [_node(n, graph) for n in graph.nodes.get(name, [])]
    return entry


def _build_config(name: str, shape: Any, graph: ExportGraph) -> dict[str, Any]:
    """Keras 3's build_config: the input shape, or for a recurrent layer called with
    initial_state the shapes of both (``shapes_dict``)."""
    first = graph.nodes[name][0]
    states = first.kwargs.get("initial_state")
    if not states:
        return {"input_shape": shape}
    refs = states if isinstance(states, list) else [states]
    return {"shapes_dict": {"sequences_shape": shape,
                            "initial_state_shape": [list(graph.shapes[r][0]) for r in refs if isinstance(r, Ref)]}}


def add_inner_build_configs(entry: dict[str, Any], shape: Any, generation: int = 3) -> None:
    """Wrapped layers' build_config as Keras writes them: Bidirectional's copies get the
    wrapper's input shape (Keras 3 only), TimeDistributed's layer the shape without the time axis."""
    config = entry["config"]
    if entry["class_name"] == "Bidirectional" and generation >= 3:
        for key in ("layer", "backward_layer"):
            if key in config:
                config[key]["build_config"] = {"input_shape": shape}
    if entry["class_name"] == "TimeDistributed" and isinstance(shape, list) and len(shape) > 1:
        config["layer"]["build_config"] = {"input_shape": [shape[0], *shape[2:]]}


def _io(refs: Any) -> Any:
    if isinstance(refs, Ref):
        return [refs.layer, refs.node, refs.tensor]
    if isinstance(refs, dict):
        return {k: _io(v) for k, v in refs.items()}
    return [_io(r) for r in refs]


def keras3_model_config(module: nn.Module, graph: ExportGraph | None = None) -> dict[str, Any]:
    """The model's config.json (``serialize_keras_object(model)`` of Keras 3)."""
    graph = graph or export_graph(module, 3)
    model = graph.model
    specs = {s.name: s for s in graph.inputs}
    sequential = model.keras_class == "Sequential" and len(specs) == 1
    layers = []
    for name, m in graph.layers():
        if m is None:
            if not sequential:
                layers.append(_input_entry(specs[name], False))
            continue
        layers.append(_layer_entry(name, m, graph))
    if sequential:
        spec = next(iter(specs.values()))
        layers.insert(0, _input_entry(spec, True))
        shape = list(spec.shape)
        config = {"name": model.name, "trainable": True, "dtype": dtype_config(dtype_name(model), 3),
                  "layers": layers, "build_input_shape": shape}
        return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                "build_config": {"input_shape": shape}, "compile_config": {}}
    config = {"name": model.name, "trainable": True, "layers": layers,
              "input_layers": _io(model.input_refs), "output_layers": _io(model.output_refs)}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
            "registered_name": "Functional", "build_config": {"input_shape": None}, "compile_config": {}}


def _write_vars(h5: h5py.File, path: str, name: str, arrays: list[np.ndarray]) -> None:
    group = h5.require_group(f"{path}/vars" if path else "vars")
    group.attrs["name"] = name
    for i, a in enumerate(arrays):
        group.create_dataset(str(i), data=np.asarray(a))


def _write_weights(h5: h5py.File, module: nn.Module, path: str = "") -> None:
    """The Keras 3 weights tree: ``layers/<snake_case class>[_k]`` per layer of the container, in
    Keras ``model.layers`` order (InputLayers count in functional models)."""
    graph = export_graph(module, 3)
    model = graph.model
    sequential = model.keras_class == "Sequential" and len(graph.inputs) == 1
    used: dict[str, int] = {}
    prefix = f"{path}/layers" if path else "layers"
    for name, m in graph.layers():
        if isinstance(m, KerasOp) or (m is None and sequential):
            continue
        cls = "InputLayer" if m is None else (m.keras_class if isinstance(m, KerasModel)
                                              else layer_config(m, 3, name)["class_name"])
        base = snake_case(cls)
        used[base] = used.get(base, -1) + 1
        sub = f"{prefix}/{base}" + (f"_{used[base]}" if used[base] else "")
        if m is None:
            _write_vars(h5, sub, name, [])
        elif isinstance(m, KerasModel):
            _write_weights(h5, m, sub)
        else:
            arrays = from_keras_layout(m, m.get_keras_weights(), 3) if _has_weights(m) else []  # type: ignore[operator]
            for rel, part in keras3_var_groups(m, arrays):
                _write_vars(h5, f"{sub}/{rel[:-len('/vars')]}" if rel != "vars" else sub,
                            _part_name(m, rel, name), part)
    _write_vars(h5, path, model.name, [])


def _has_weights(m: nn.Module) -> bool:
    return callable(getattr(m, "get_keras_weights", None))


def _part_name(m: nn.Module, rel: str, name: str) -> str:
    """The ``name`` attribute Keras 3 gives each vars group (the object's own name)."""
    parts = rel.split("/")[:-1]
    obj: Any = m
    for p in parts:
        obj = {"cell": getattr(obj, "cell", None), "forward_layer": getattr(obj, "forward_layer", None),
               "backward_layer": getattr(obj, "backward_layer", None), "layer": getattr(obj, "layer", None)}[p]
    if obj is m:
        return name
    if parts and parts[-1] == "cell":
        return f"{snake_case(obj.keras_class)}_cell"
    return str(getattr(obj, "name", None) or snake_case(type(obj).__name__))


def weights_bytes(module: nn.Module) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        _write_weights(h5, module)
    return buf.getvalue()


def write_keras3(module: nn.Module, path: str) -> None:
    """Write ``module`` as a Keras 3 ``.keras`` file."""
    config = keras3_model_config(module)
    metadata = {"keras_version": KERAS3_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = weights_bytes(module)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights)
