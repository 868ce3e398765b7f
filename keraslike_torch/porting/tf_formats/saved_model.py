"""tf.keras SavedModel directories and TF-format weight checkpoints as :class:`KerasFile` objects.

* SavedModel (``model.save(dir)``, TF 2.0-2.12): the Keras config comes from ``keras_metadata.pb``
  (a ``SavedMetadata``: one node per Keras object, its metadata a JSON string; TF >= 2.5) or, for
  TF 2.0-2.4, from the ``metadata`` of the Keras objects in ``saved_model.pb``'s
  ``SavedObjectGraph``. Only that metadata is decoded: the graphs and functions a SavedModel
  carries are skipped over unparsed and never run. Weights: ``variables/variables`` (a tensor
  bundle), mapped to layers through its object graph.
* Checkpoint (``model.save_weights(prefix)`` without ``.h5``): ``prefix.index`` +
  ``prefix.data-*``; weights only, by layer order as tf-keras's ``load_weights`` matches them.

Both give a ``LegacyWeights``-like store (layers with weights, each layer's arrays in Keras
``weights`` order), so the HDF5 path's model building, layouts and weight plans serve them
unchanged. A SavedModel that is not a tf.keras model (a bare ``tf.Module``, a Keras 3 export) is
refused, naming what it holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import guards
from ..guards import KerasFileError
from ..keras_file import KerasFile, LegacyWeights
from .object_graph import ObjectGraph, parse_object_graph
from .protowire import Schema, parse
from .tensor_bundle import TensorBundle, confined

__all__ = ["tf_kind", "open_tf", "BundleWeights", "refuse_by_name", "MAX_SAVED_MODEL_BYTES"]

MAX_SAVED_MODEL_BYTES = 2**31  # protobuf's own limit for one message
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_KERAS_IDENTIFIERS = ("_tf_keras_",)  # tf_keras/src/saving/legacy/saved_model/constants.py: _tf_keras_layer, ...
_MODEL_IDENTIFIERS = ("_tf_keras_model", "_tf_keras_network", "_tf_keras_sequential")

_VERSION: Schema = {1: ("producer", "int"), 2: ("min_consumer", "int")}
_METADATA_NODE: Schema = {1: ("version", _VERSION), 2: ("node_id", "int"), 3: ("node_path", "str"),
                          4: ("identifier", "str"), 5: ("metadata", "str")}
_SAVED_METADATA: Schema = {1: ("nodes[]", _METADATA_NODE)}
_REF: Schema = {1: ("node_id", "int"), 2: ("local_name", "str")}
_USER_OBJECT: Schema = {1: ("identifier", "str"), 3: ("metadata", "str")}
# SavedObject: only its children, and which kind it is (user object / variable / function ...)
_SAVED_OBJECT: Schema = {1: ("children[]", _REF), 4: ("user_object", _USER_OBJECT), 5: ("asset", "raw"),
                         6: ("function", "raw"), 7: ("variable", "raw"), 8: ("bare_concrete_function", "raw"),
                         9: ("constant", "raw"), 10: ("resource", "raw"), 12: ("captured_tensor", "raw")}
_OBJECT_GRAPH: Schema = {1: ("nodes[]", _SAVED_OBJECT)}  # field 2, the concrete functions, is skipped
_META_INFO: Schema = {4: ("tags[]", "str"), 5: ("tensorflow_version", "str")}
_META_GRAPH: Schema = {1: ("meta_info_def", _META_INFO), 7: ("object_graph_def", _OBJECT_GRAPH)}  # 2: GraphDef, skipped
_SAVED_MODEL: Schema = {1: ("saved_model_schema_version", "int"), 2: ("meta_graphs[]", "raw")}


@dataclass
class BundleWeights(LegacyWeights):
    """Weights from a tensor bundle, per layer (Keras name) in Keras ``weights`` order."""

    bundle: Any = None
    keys: dict[str, list[str]] = field(default_factory=dict)

    def weight_names(self, layer: str) -> list[str]:
        return self._names.get(layer, [])

    def arrays(self, layer: str) -> list[np.ndarray]:
        return [self.bundle.read(k) for k in self.keys.get(layer, [])]


def tf_kind(path: str | os.PathLike) -> str | None:
    """"saved_model" (a directory holding saved_model.pb, or that file), "tf_checkpoint"
    (a prefix with PREFIX.index, or the .index itself), or None for anything else."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return "saved_model" if os.path.exists(os.path.join(p, "saved_model.pb")) or \
            os.path.exists(os.path.join(p, "saved_model.pbtxt")) else None
    if os.path.basename(p) == "saved_model.pb":
        return "saved_model"
    if p.endswith(".index") or (not os.path.exists(p) and os.path.exists(p + ".index")):
        return "tf_checkpoint"
    return None


@contextmanager
def open_tf(path: str | os.PathLike, kind: str, max_bytes: int) -> Iterator[KerasFile]:
    """Open a SavedModel directory or a TF checkpoint prefix (see :func:`tf_kind`)."""
    p = os.fspath(path)
    if kind == "tf_checkpoint":
        prefix = p[: -len(".index")] if p.endswith(".index") else p
        with TensorBundle(prefix, max_bytes=max_bytes) as bundle:
            graph = _graph(bundle)
            weights = _weights(bundle, graph, {}, repr(prefix))
            yield KerasFile("tf_checkpoint", weights=weights, extra={"weights_bytes": bundle.data_bytes})
        return
    root = p if os.path.isdir(p) else (os.path.dirname(p) or ".")
    where = repr(root)
    if not os.path.exists(os.path.join(root, "saved_model.pb")):
        raise KerasFileError(f"{where} holds a text-format saved_model.pbtxt; only binary SavedModels are read")
    metadata, tf_version = _keras_metadata(root, where)
    top = metadata[()]
    config = _model_config(top, where)
    prefix = os.path.join(root, "variables", "variables")
    if not os.path.exists(prefix + ".index"):
        raise KerasFileError(f"{where} has no variables/variables.index: the SavedModel's weights are missing")
    with TensorBundle(prefix, root=root, max_bytes=max_bytes) as bundle:
        graph = _graph(bundle)
        names = {path[0]: str(m.get("name")) for path, m in metadata.items()
                 if len(path) == 1 and isinstance(m.get("name"), str)}
        weights = _weights(bundle, graph, names, where, top.get("keras_version"), top.get("backend"))
        version = top.get("keras_version")
        yield KerasFile("saved_model", config=config, keras_version=None if version is None else str(version),
                        backend=top.get("backend"), weights=weights,
                        extra={"weights_bytes": bundle.data_bytes, "tensorflow_version": tf_version})


def refuse_by_name(kf: KerasFile, by_name: bool) -> None:
    """tf-keras loads TF-format weights by topology only (``load_weights(..., by_name=True)``
    raises NotImplementedError there): the same refusal, as a clear error."""
    if by_name and kf.kind in ("tf_checkpoint", "saved_model"):
        raise KerasFileError("weights in TensorFlow format load by layer order only, as in tf-keras "
                             "(by_name=True works with HDF5 weights)")


# ---- weights --------------------------------------------------------------------------------------


def _graph(bundle: TensorBundle) -> ObjectGraph:
    where = repr(bundle.prefix)
    if OBJECT_GRAPH_KEY not in bundle.entries:
        raise KerasFileError(f"{bundle.index_path!r} has no {OBJECT_GRAPH_KEY}: a TF1-style checkpoint "
                             "(name-based), not one written by tf.keras 2.x")
    return parse_object_graph(bundle.read_string(OBJECT_GRAPH_KEY), where)


def _weights(bundle: TensorBundle, graph: ObjectGraph, names: dict[str, str], where: str,
             keras_version: Any = None, backend: Any = None) -> BundleWeights:
    layers = graph.layer_nodes(0)
    if not layers and any(v is not None for v in graph.variables):
        raise KerasFileError(f"{where}: the checkpoint's root object has no layer_with_weights-N children: "
                             "not written by a tf.keras model's save_weights or save")
    layer_names: list[str] = []
    keys: dict[str, list[str]] = {}
    weight_names: dict[str, list[str]] = {}
    for i, node in enumerate(layers):
        slot = f"layer_with_weights-{i}"
        variables = graph.layer_variables(node, slot)
        for v in variables:
            key = graph.checkpoint_key(v)
            if key not in bundle.entries:
                raise KerasFileError(f"{where}: variable {graph.full_name(v)!r} of {slot} has checkpoint key "
                                     f"{key!r}, which the bundle does not hold")
        full = [graph.full_name(v) for v in variables]
        name = names.get(slot) or (full[0].split("/")[0] if full and full[0] else slot)
        if name in keys:
            name = slot
        layer_names.append(name)
        keys[name] = [graph.checkpoint_key(v) for v in variables]
        weight_names[name] = [f"{n or graph.checkpoint_key(v)}:0" for n, v in zip(full, variables)]
    return BundleWeights(group=None, layer_names=layer_names, keras_version=keras_version, backend=backend,
                         _names=weight_names, where=where, file_size=bundle.data_bytes, bundle=bundle, keys=keys)


# ---- the Keras metadata -----------------------------------------------------------------------------


def _keras_metadata(root: str, where: str) -> tuple[dict[tuple[str, ...], dict], str | None]:
    """{object path (local names from the root): its Keras metadata}, and the TF version if known."""
    meta_path = os.path.join(root, "keras_metadata.pb")
    if os.path.exists(meta_path):
        confined(meta_path, root, where)
        size = guards.check_regular_file(meta_path)
        if size > guards.MAX_JSON_BYTES * 4:
            raise KerasFileError(f"{meta_path!r} is {size} bytes: refusing")
        with open(meta_path, "rb") as f:
            msg = parse(f.read(size + 1), _SAVED_METADATA, repr(meta_path))
        out: dict[tuple[str, ...], dict] = {}
        for node in msg["nodes"]:
            identifier = str(node.get("identifier", ""))
            if not identifier.startswith(_KERAS_IDENTIFIERS):
                continue
            parts = str(node.get("node_path", "")).split(".")
            if parts[0] != "root":
                raise KerasFileError(f"{meta_path!r}: node path {node.get('node_path')!r} does not start at root")
            if len(parts) == 1 and identifier not in _MODEL_IDENTIFIERS:
                raise KerasFileError(f"{where}: its root is a tf.keras {identifier!r} object, not a model: only "
                                     "SavedModels of Sequential and functional models can be rebuilt")
            out[tuple(parts[1:])] = _json(node.get("metadata", ""), f"metadata of {node.get('node_path')!r} "
                                                                    f"in {meta_path!r}")
        if () not in out:
            raise KerasFileError(f"{meta_path!r} has no Keras metadata for the root object: not a tf.keras model")
        return out, None
    return _object_graph_metadata(root, where)


def _object_graph_metadata(root: str, where: str) -> tuple[dict[tuple[str, ...], dict], str | None]:
    """TF 2.0-2.4: the metadata in saved_model.pb's SavedObjectGraph (its GraphDef is skipped)."""
    pb = os.path.join(root, "saved_model.pb")
    confined(pb, root, where)
    size = guards.check_regular_file(pb)
    if size > MAX_SAVED_MODEL_BYTES:
        raise KerasFileError(f"{pb!r} is {size} bytes, over protobuf's 2 GiB limit: not a valid SavedModel")
    if size == 0:
        raise KerasFileError(f"{pb!r} is empty")
    with open(pb, "rb") as f:
        return _metadata_from(memoryview(f.read(MAX_SAVED_MODEL_BYTES + 1)), pb, where)


def _metadata_from(view: memoryview, pb: str, where: str) -> tuple[dict[tuple[str, ...], dict], str | None]:
    model = parse(view, _SAVED_MODEL, repr(pb))
    if not model["meta_graphs"]:
        raise KerasFileError(f"{pb!r} holds no MetaGraphDef: not a SavedModel")
    meta = parse(model["meta_graphs"][0], _META_GRAPH, f"the MetaGraphDef of {pb!r}")
    tf_version = meta.get("meta_info_def", {}).get("tensorflow_version")
    nodes = meta.get("object_graph_def", {}).get("nodes", [])
    if not nodes:
        raise KerasFileError(f"{where} is a TF1-style SavedModel (no object graph; TensorFlow "
                             f"{tf_version or 'unknown'}): not a tf.keras model")
    top = nodes[0]
    identifier = top.get("user_object", {}).get("identifier", "")
    if identifier in _MODEL_IDENTIFIERS and not top["user_object"].get("metadata"):
        raise KerasFileError(f"{where} is a tf.keras model's SavedModel without keras_metadata.pb (TensorFlow "
                             f"{tf_version or 'unknown'} keeps the model config in that file): the file is missing")
    if identifier not in _MODEL_IDENTIFIERS:
        kind = f"a {identifier!r} object" if identifier else next(
            (f"a {k}" for k in ("function", "variable", "resource", "constant") if k in top), "an unknown object")
        raise KerasFileError(f"{where} is a TensorFlow SavedModel whose root is {kind}, not a tf.keras model (no "
                             "keras_metadata.pb, no Keras metadata in saved_model.pb); only SavedModels written by "
                             "tf.keras model.save() can be rebuilt")
    out: dict[tuple[str, ...], dict] = {}
    seen = {0}
    stack: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    while stack:  # breadth of the Keras objects only: layers and their sublayers
        index, path = stack.pop()
        user = nodes[index].get("user_object", {})
        if not str(user.get("identifier", "")).startswith(_KERAS_IDENTIFIERS) or not user.get("metadata"):
            continue
        out[path] = _json(user["metadata"], f"metadata of object {index} in {pb!r}")
        if len(path) >= 8:
            continue
        for ref in nodes[index]["children"]:
            target = int(ref.get("node_id", -1))
            if 0 <= target < len(nodes) and target not in seen:
                seen.add(target)
                stack.append((target, (*path, str(ref.get("local_name", "")))))
    return out, tf_version


def _json(text: str, what: str) -> dict:
    value = _plain(guards.parse_json(text, what))
    if not isinstance(value, dict):
        raise KerasFileError(f"{what} is JSON {type(value).__name__}, expected an object")
    return value


def _plain(value: Any) -> Any:
    """SavedModel metadata JSON (tf-keras's json_utils encoding) -> the plain JSON an HDF5
    model_config holds: ``{"class_name": "__tuple__", "items": [...]}`` and TensorShape objects
    become lists, ``__bytes__`` objects strings. (Depth is bounded by parse_json.)"""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("class_name")
    if kind in ("__tuple__", "TensorShape") and set(value) <= {"class_name", "items"}:
        items = value.get("items")
        return None if items is None else _plain(items)
    if kind == "__bytes__" and isinstance(value.get("value"), str):
        return value["value"]
    return {k: _plain(v) for k, v in value.items()}


def _model_config(top: dict, where: str) -> dict:
    """The model's {"class_name", "config"} from its metadata (as the HDF5 model_config holds it)."""
    config = top.get("config")
    if isinstance(config, dict) and "class_name" in top:
        return {"class_name": top["class_name"], "config": config}
    model_config = top.get("model_config")
    if isinstance(model_config, dict) and isinstance(model_config.get("config"), dict):
        return model_config
    raise KerasFileError(
        f"{where}: the model ({top.get('class_name', '?')!r}) was saved without a layer config (a subclassed "
        "tf.keras model?); only Sequential and functional models can be rebuilt without running its code"
    )
