"""Keras model configs -> KerasModel: layer entries, the Sequential and Functional builders.

Reads the layer entries of every Keras generation (the bare-list Sequential of Keras <= 2.2,
tf.keras "Functional", Keras 3 serialization), checks every tensor reference, orders the calls
and bounds the nesting depth of a config handed in directly. Entry points:
:func:`model_from_config`, :func:`model_from_json`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..recurrent import RNN
from . import guards
from .formats import KerasFileError, _ours
from .graph import GraphNode, InputSpec, KerasModel, Ref, flatten, is_ref, map_refs
from .keras_file import generation_of_config
from .registry import ConvertContext, convert_layer, converter_names

__all__ = ["MODEL_CLASSES", "model_from_config", "model_from_json"]

MODEL_CLASSES = ("Sequential", "Functional", "Model")
"""The Keras class names of models (a layer entry with one of them is a nested model)."""


def _layer_entries(config: dict) -> list[dict]:
    cfg = config.get("config", config)
    layers = cfg if isinstance(cfg, list) else cfg.get("layers")
    if not isinstance(layers, list):
        raise KerasFileError(f"model config {config.get('class_name')!r} has no layer list")
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict) or not isinstance(entry.get("config", {}), (dict, list)):
            raise KerasFileError(
                f"model config {config.get('class_name')!r}: layer entry {i} must be an object with a "
                f"'config' object, got {type(entry).__name__}"
            )
    return layers


def _ref_from(value: Any) -> Ref | None:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        hist = value["config"]["keras_history"]
        return Ref(str(hist[0]), int(hist[1]), int(hist[2]))
    if (isinstance(value, (list, tuple)) and len(value) in (3, 4) and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int)):
        return Ref(value[0], value[1], value[2])
    return None


def _parse_structure(value: Any) -> Any:
    ref = _ref_from(value)
    if ref is not None:
        return ref
    if isinstance(value, (list, tuple)):
        return [_parse_structure(v) for v in value]
    if isinstance(value, dict):
        return {k: _parse_structure(v) for k, v in value.items()}
    return value


def _parse_io(value: Any) -> Any:
    """input_layers / output_layers: [name, node, tensor], a list of those, or a dict of those."""
    ref = _ref_from(value)
    if ref is not None:
        return [ref]
    if isinstance(value, dict):
        return {k: _parse_io(v)[0] for k, v in value.items()}
    return [_ref_from(v) or _parse_structure(v) for v in value]


def _shape_of(cfg: dict) -> tuple[int | None, ...] | None:
    for key in ("batch_shape", "batch_input_shape"):
        if cfg.get(key) is not None:
            return tuple(cfg[key])
    if cfg.get("input_shape") is not None:
        return (None, *cfg["input_shape"])
    if cfg.get("input_dim") is not None and cfg.get("input_length") is not None:
        return (None, cfg["input_length"])
    return None


def _make_layer(entry: dict, ctx: ConvertContext) -> nn.Module:
    class_name = entry.get("class_name")
    config = entry.get("config", {})
    if not isinstance(class_name, str):
        raise KerasFileError(f"layer entry without class_name: {str(entry)[:200]}")
    if not isinstance(config, (dict, list)):
        raise KerasFileError(f"layer {class_name!r}: config is not an object")
    if isinstance(config, list) or class_name in MODEL_CLASSES:  # a nested model
        replacement = _lookup_custom(entry, ctx)
        return replacement if replacement is not None else model_from_config(entry, ctx=ctx)
    module_path = str(entry.get("module") or "")
    if module_path.startswith(("keras.src.ops", "keras.ops")) or _is_legacy_op(entry, ctx):
        class_name = f"ops.{class_name}"
    module = convert_layer(class_name, config, ctx, entry.get("registered_name"))
    _prebuild(module, entry)
    return module


def _lookup_custom(entry: dict, ctx: ConvertContext) -> nn.Module | None:
    """A custom_objects replacement for a nested model (by its name, registered or class name)."""
    config = entry.get("config")
    config_name = config.get("name") if isinstance(config, dict) else None
    for key in (entry.get("name"), config_name, entry.get("registered_name"), entry.get("class_name")):
        if isinstance(key, str) and key in ctx.custom_objects:
            return convert_layer(key, {"name": key}, ctx)
    return None


def _is_legacy_op(entry: dict, ctx: ConvertContext) -> bool:
    """Keras 3's legacy HDF5 writer drops the ``module`` key: an op (``NotEqual``, or the op
    ``Concatenate`` beside the layer of that name) is then told by its config, which lacks the
    ``trainable`` key every layer config has."""
    config = entry.get("config")
    return (ctx.keras_version >= 3 and isinstance(config, dict) and "trainable" not in config
            and f"ops.{entry.get('class_name')}" in converter_names())


def _prebuild(module: nn.Module, entry: dict) -> None:
    """Keras 3 configs carry each layer's build input shape: size lazy recurrent layers now."""
    shape = (entry.get("build_config") or {}).get("input_shape")
    if isinstance(module, RNN) and isinstance(shape, list) and len(shape) == 3 and isinstance(shape[-1], int):
        if not module.cell.built:
            module.cell.build(int(shape[-1]))


def _build_sequential(config: dict, ctx: ConvertContext) -> KerasModel:
    cfg = config.get("config", {})
    name = cfg.get("name", "sequential") if isinstance(cfg, dict) else "sequential"
    entries = _layer_entries(config)
    layers: dict[str, nn.Module] = {}
    specs: list[InputSpec] = []
    input_name = "input"
    shape = None
    dtype = "float32"
    for i, entry in enumerate(entries):
        ecfg = entry.get("config", {})
        if entry.get("class_name") == "InputLayer":
            shape = _shape_of(ecfg)
            dtype = str(ecfg.get("dtype") or "float32")
            input_name = ecfg.get("name", input_name)
            continue
        if not layers and shape is None:
            shape = _shape_of(ecfg)
            if isinstance(ecfg.get("dtype"), str) and entry.get("class_name") != "Embedding":
                dtype = ecfg["dtype"]
        lname = str(ecfg.get("name") or entry.get("name") or f"layer_{i}")
        if lname in layers:
            raise KerasFileError(f"two layers named {lname!r} in Sequential model {name!r}")
        layers[lname] = _make_layer(entry, ctx)
    if not layers:
        raise KerasFileError(f"Sequential model {name!r} has no layers")
    names = list(layers)
    nodes = [GraphNode(n, 0, [Ref(names[k - 1], 0, 0) if k else Ref(input_name, 0, 0)], {}, False)
             for k, n in enumerate(names)]
    first = layers[names[0]]
    vocab = getattr(first, "input_dim", None) if type(first).__name__ == "Embedding" else None
    specs.append(InputSpec(input_name, shape or (None, None, None), dtype, vocab))
    return KerasModel(name, "Sequential", layers, nodes, [Ref(input_name, 0, 0)],
                      [Ref(names[-1], 0, 0)], specs)


def _build_functional(config: dict, ctx: ConvertContext) -> KerasModel:
    cfg = config["config"]
    name = cfg.get("name", "model")
    entries = _layer_entries(config)
    layers: dict[str, nn.Module] = {}
    specs_by_name: dict[str, InputSpec] = {}
    pending: list[GraphNode] = []
    for entry in entries:
        ecfg = entry.get("config", {})
        lname = str(entry.get("name") or ecfg.get("name"))
        if entry.get("class_name") == "InputLayer":
            specs_by_name[lname] = InputSpec(lname, _shape_of(ecfg) or (None,), str(ecfg.get("dtype") or "float32"))
            continue
        if lname in layers:
            raise KerasFileError(f"two layers named {lname!r} in model {name!r}")
        layers[lname] = _make_layer(entry, ctx)
        for index, raw in enumerate(entry.get("inbound_nodes", [])):
            if isinstance(raw, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
                args = _parse_structure(raw.get("args", []))
                kwargs = _parse_structure(raw.get("kwargs", {}))
                pending.append(GraphNode(lname, index, args, kwargs, True))
            else:  # Keras 1/2: [[name, node, tensor, {kwargs}], ...]
                refs, kwargs = [], {}
                for item in raw:
                    ref = _ref_from(item)
                    if ref is None:
                        raise KerasFileError(f"layer {lname!r}: cannot read inbound node entry {item!r}")
                    refs.append(ref)
                    if len(item) > 3 and isinstance(item[3], dict):
                        kwargs.update(_parse_structure(item[3]))
                pending.append(GraphNode(lname, index, refs, kwargs, False))
    inputs = _parse_io(cfg.get("input_layers", []))
    outputs = _parse_io(cfg.get("output_layers", []))
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if ctx.keras_version < 3:
        skip = {str(e.get("name") or e.get("config", {}).get("name")) for e in entries if _skips_first_node(e)}
        if skip:  # tf-keras numbers those layers' calls from 1 in references (see _skips_first_node)
            def shift(r: Ref) -> Ref:
                return Ref(r.layer, r.node - 1, r.tensor) if r.layer in skip else r

            for node in pending:
                node.args, node.kwargs = map_refs(node.args, shift), map_refs(node.kwargs, shift)
            outputs = map_refs(outputs, shift)
    missing = [r.layer for r in inputs if r.layer not in specs_by_name]
    if missing:
        raise KerasFileError(f"model {name!r}: input layers {missing} are not InputLayers of the config")
    _check_references(name, layers, specs_by_name, pending, outputs)
    nodes = _toposort(pending, {r for r in inputs}, name)
    specs = [specs_by_name[r.layer] for r in inputs]
    for spec, ref in zip(specs, inputs):  # inputs feeding an Embedding carry token ids
        for node in nodes:
            mod = layers[node.layer]
            if type(mod).__name__ == "Embedding" and ref in flatten(node.args):
                spec.vocabulary = getattr(mod, "input_dim", None)
    class_name = str(config.get("class_name", "Functional"))
    return KerasModel(name, class_name, layers, nodes, list(inputs), outputs, specs)


def _check_references(model: str, layers: dict[str, nn.Module], inputs: dict[str, InputSpec],
                      nodes: list[GraphNode], outputs: Any) -> None:
    """Every tensor a node or the model's outputs name comes from a layer of the config, and the
    model has outputs: a graph that would fail (or return nothing) at its first call fails here."""
    flat_outputs = [r for r in flatten(outputs) if is_ref(r)]
    if not flat_outputs:
        raise KerasFileError(f"model {model!r}: the config names no output tensors (output_layers)")
    known = set(layers) | set(inputs)
    for node in nodes:
        for r in flatten([node.args, list(node.kwargs.values())]):
            if is_ref(r) and r.layer not in known:
                raise KerasFileError(
                    f"model {model!r}: layer {node.layer!r} takes a tensor of layer {r.layer!r}, "
                    "which is not in the config"
                )
    calls = {(n.layer, n.index) for n in nodes} | {(k, 0) for k in inputs}
    for r in flat_outputs:
        if r.layer not in known or (r.layer, r.node) not in calls:
            raise KerasFileError(
                f"model {model!r}: output {r.layer!r} (call {r.node}) is not produced by any layer of the config"
            )


def _skips_first_node(entry: dict) -> bool:
    """tf-keras: a nested model built on an InputLayer has a first node of its own (input to
    output) that its parent's config leaves out, but references still count it."""
    if entry.get("class_name") not in MODEL_CLASSES:
        return False
    cfg = entry.get("config", {})
    layers = cfg if isinstance(cfg, list) else cfg.get("layers", [])
    if entry.get("class_name") != "Sequential":
        return True
    return bool(layers) and layers[0].get("class_name") == "InputLayer"


def _toposort(nodes: list[GraphNode], available: set[Ref], model: str) -> list[GraphNode]:
    done = set(available)
    produced: set[tuple[str, int]] = {(r.layer, r.node) for r in available}
    order: list[GraphNode] = []
    remaining = list(nodes)
    while remaining:
        progress = False
        for node in list(remaining):
            needs = [r for r in flatten([node.args, list(node.kwargs.values())]) if is_ref(r)]
            if all((r.layer, r.node) in produced or r in done for r in needs):
                order.append(node)
                produced.add((node.layer, node.index))
                remaining.remove(node)
                progress = True
        if not progress:
            stuck = [(n.layer, n.index) for n in remaining]
            raise KerasFileError(f"model {model!r}: cannot order layers {stuck[:5]} (missing inputs or a cycle)")
    return order


def model_from_config(config: dict, custom_objects: dict | None = None, *,
                      keras_version: int | None = None, ctx: ConvertContext | None = None) -> KerasModel:
    """Build a :class:`KerasModel` from a Keras model config dict (``{"class_name", "config"}``).
    Like every loader it returns the model in eval mode (Keras's inference behaviour: dropout
    off, moving statistics); ``.train()`` turns training behaviour on."""
    if ctx is None:  # a top-level call: bound the nesting of a config handed in directly
        if not isinstance(config, dict):
            raise TypeError(f"model_from_config takes a config dict, got {type(config).__name__}")
        depth = _nesting_depth(config, guards.MAX_JSON_DEPTH)
        if depth > guards.MAX_JSON_DEPTH:
            raise KerasFileError(
                f"model config nests more than {guards.MAX_JSON_DEPTH} levels deep; Keras configs nest far less")
        ctx = ConvertContext(keras_version=keras_version or generation_of_config(config),
                             custom_objects=dict(custom_objects or {}))
    class_name = config.get("class_name")
    if class_name == "Sequential":
        return _build_sequential(config, ctx).eval()
    if class_name in ("Functional", "Model"):
        return _build_functional(config, ctx).eval()
    raise KerasFileError(f"not a Keras model config: class_name {class_name!r}")


def _nesting_depth(value: Any, limit: int) -> int:
    """Depth of nested dicts/lists (iterative; stops counting past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d > limit:
                return d
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def model_from_json(text: str, custom_objects: dict | None = None) -> KerasModel:
    """Build a model (untrained weights) from architecture JSON of any Keras generation: the
    bare-list Sequential of Keras <= 2.2, tf.keras "Functional", Keras 3 serialization.
    Returned in eval mode.

    >>> import keraslike_torch as kt
    >>> m = kt.model_from_json('{"class_name": "Sequential", "config": [{"class_name": "LSTM", '
    ...                        '"config": {"units": 2, "batch_input_shape": [null, 3, 4]}}]}')
    >>> type(m.layer("layer_0")).__name__
    'LSTM'
    """
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"model_from_json takes the JSON text (str), got {type(text).__name__}")
    config = guards.parse_json(text, "architecture JSON")  # size and nesting depth bounded
    if not isinstance(config, dict):
        raise KerasFileError(f"architecture JSON must be an object, got {type(config).__name__}")
    try:
        model = model_from_config(config, custom_objects)
    except Exception as e:
        if _ours(e):
            raise
        raise guards.wrap_foreign(e, "architecture JSON") from e
    model.check_fits()  # sizes every lazy layer when the input shapes are known, as Keras builds
    return model
