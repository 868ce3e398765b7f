"""Whole Keras models as torch modules: configs of every generation in, a plain ``nn.Module`` out.

``KerasModel`` holds one submodule per Keras layer (named like the layer) and the call graph of
the Keras model; ``forward`` takes the Keras inputs in Keras order (one argument each, named after
the Keras inputs: ``inspect.signature(model.forward)`` lists them) and returns the outputs in
Keras order. Masks propagate as in Keras: Keras 1/2 graphs and Sequential models
propagate them implicitly through the layers' ``compute_mask``; Keras 3 functional graphs record
them as explicit ops passed as ``mask=`` (see :mod:`keraslike_torch.keras_ops`).

Entry points: :func:`load_model`, :func:`model_from_json`, :func:`model_from_config`,
:func:`load_weights`, :func:`read_weights`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..common import tracing
from ..common.signature import ForwardWithInputNames, bind_inputs, input_arg_names
from ..layers import ops as _keras_ops  # noqa: F401  (registers the ops.* converters)
from ..layers.ops import KerasOp
from ..recurrent.bidirectional import Bidirectional
from ..recurrent.rnn import RNN
from . import guards
from .formats import Keras3Weights, KerasFile, KerasFileError, LegacyWeights, open_keras_file
from .layouts import keras_weight_count, persistent_float_buffers, to_keras_layout
from .registry import ConvertContext, UnsupportedLayerError, convert_layer, register

__all__ = [
    "KerasModel",
    "load_model",
    "model_from_json",
    "model_from_config",
    "load_weights",
    "read_weights",
    "model_from_keras_object",
]

_MODEL_CLASSES = ("Sequential", "Functional", "Model")


@dataclass(frozen=True)
class Ref:
    """A Keras tensor: output ``tensor`` of call ``node`` of layer ``layer``."""

    layer: str
    node: int
    tensor: int


@dataclass
class InputSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str
    vocabulary: int | None = None  # input_dim of the Embedding it feeds, if any


@dataclass
class GraphNode:
    layer: str  # Keras layer name
    index: int  # node index of that layer
    args: Any  # nested structure of Ref / constants
    kwargs: dict
    explicit: bool  # Keras 3 node: masks are explicit kwargs


def _is_ref(x: Any) -> bool:
    return isinstance(x, Ref)


def _map(x: Any, fn: Any) -> Any:
    if isinstance(x, Ref):
        return fn(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_map(v, fn) for v in x)
    if isinstance(x, dict):
        return {k: _map(v, fn) for k, v in x.items()}
    return x


def _flatten(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    if isinstance(x, dict):
        return [v for item in x.values() for v in _flatten(item)]
    return [x]


def _attr_name(keras_name: str, taken: set[str], reserved: nn.Module) -> str:
    name = re.sub(r"[^0-9a-zA-Z_]", "_", keras_name) or "layer"
    if name[0].isdigit():
        name = "layer_" + name
    base, i = name, 1
    while name in taken or hasattr(reserved, name):
        name = f"{base}_{i}" if base not in ("forward", "training") else f"layer_{base}_{i}"
        i += 1
    taken.add(name)
    return name


def _has_weights(module: nn.Module) -> bool:
    if isinstance(module, KerasOp):
        return False
    return any(True for _ in module.parameters()) or bool(persistent_float_buffers(module))


class KerasModel(nn.Module):
    """A Keras Sequential or Functional model as a torch module.

    Submodules are named like the Keras layers (characters outside ``[0-9A-Za-z_]`` become
    ``_``); ``layer(name)`` finds one by its Keras name. ``forward(a, b, ..., mask=None)`` takes the inputs in
    Keras order (integer ids for Embedding inputs) and returns a tensor or a tuple of tensors in
    Keras output order.
    """

    is_keras_model = True

    def __init__(self, name: str, class_name: str, layers: dict[str, nn.Module], nodes: list[GraphNode],
                 inputs: list[Ref], outputs: Any, input_specs: list[InputSpec]) -> None:
        super().__init__()
        self.name = name
        self.keras_class = class_name
        self._attr: dict[str, str] = {}
        taken: set[str] = set()
        for keras_name, module in layers.items():
            attr = _attr_name(keras_name, taken, self)
            self._attr[keras_name] = attr
            self.add_module(attr, module)
        self.nodes = nodes
        self.input_refs = inputs
        self.output_refs = outputs
        self.input_specs = input_specs
        self.output_masks: Any = None

    # ---- structure -----------------------------------------------------------------------------

    def layer(self, keras_name: str) -> nn.Module:
        """The submodule of the Keras layer called ``keras_name``."""
        try:
            return getattr(self, self._attr[keras_name])
        except KeyError:
            raise KeyError(f"no layer named {keras_name!r}; layers: {list(self._attr)}") from None

    def keras_layers(self) -> list[tuple[str, nn.Module]]:
        """(Keras name, module) for every layer, in Keras ``model.layers`` order."""
        return [(k, getattr(self, a)) for k, a in self._attr.items()]

    def weighted_layers(self) -> list[nn.Module]:
        return [m for _, m in self.keras_layers() if _has_weights(m)]

    @property
    def integer_inputs(self) -> list[bool]:
        return [s.vocabulary is not None or s.dtype.startswith(("int", "uint")) for s in self.input_specs]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, inputs={[s.name for s in self.input_specs]}"

    # ---- weights ---------------------------------------------------------------------------------

    def get_keras_weights(self) -> list[np.ndarray]:
        """All weights in Keras ``model.get_weights()`` order (layer by layer)."""
        out: list[np.ndarray] = []
        for m in self.weighted_layers():
            out.extend(m.get_keras_weights())  # type: ignore[operator]
        return out

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return [s for m in self.weighted_layers() for s in m.keras_weight_shapes()]  # type: ignore[operator]

    def keras_weight_trainable(self) -> list[bool]:
        from .layouts import _trainable_flags

        return [f for m in self.weighted_layers() for f in _trainable_flags(m)]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set every layer's weights from Keras ``model.get_weights()``; atomic."""
        _assign_atomically(self._weight_plan(weights))

    def _weight_plan(self, weights: Sequence[Any]) -> list[tuple[nn.Module, list[Any]]]:
        """``weights`` split into (layer, its arrays), in Keras ``get_weights()`` order."""
        weights = list(weights)
        plan = []
        for m in self.weighted_layers():
            n = keras_weight_count(m)
            plan.append((m, weights[:n]))
            weights = weights[n:]
        if weights:
            raise ValueError(f"{len(weights)} weight arrays left over after filling every layer of {self.name!r}")
        return plan

    def check_fits(self) -> None:
        """One dry run (batch 1, 2 steps where the time length is free) with the current weights,
        so that weights or configs that do not fit the graph (a layer's input size against what
        the layer before it produces, a tensor index a layer does not output) fail now as a
        KerasFileError naming the layer, rather than at the first call. Skipped when an input's
        feature sizes are free or the model lives on the meta device."""
        if not all(len(s.shape) > 1 and all(d is not None for d in s.shape[2:]) for s in self.input_specs):
            return  # free feature sizes: nothing to run on
        if any(t.is_meta for t in [*self.parameters(), *self.buffers()]):
            return  # built on the meta device: no values to run on (to_empty + load_state_dict follow)
        try:
            self._dry_run()
        except KeyError as e:
            ref = e.args[0] if e.args else None
            if not isinstance(ref, Ref):
                raise KerasFileError(f"model {self.name!r}: the graph cannot run ({e!r})") from e
            raise KerasFileError(
                f"model {self.name!r}: the config names output {ref.tensor} of layer {ref.layer!r} "
                f"(call {ref.node}), which that layer does not produce"
            ) from e
        except Exception as e:
            part = guards.part_of(e)
            where = f"{part}: " if part else ""
            raise KerasFileError(f"model {self.name!r}: {where}the weights do not fit the graph ({e})") from e

    def keras_gradients(self) -> list[Tensor | None]:
        out: list[Tensor | None] = []
        for m in self.weighted_layers():
            fn = getattr(m, "keras_gradients", None)
            if fn is None and isinstance(m, RNN):
                fn = m.cell.keras_gradients
            out.extend(fn() if fn is not None else [])
        return out

    def keras_param_counts(self) -> tuple[int, int]:
        from ..tools.summary import count_params

        t = n = 0
        for _, m in self.keras_layers():
            a, b = count_params(m)
            t, n = t + a, n + b
        return t, n

    def count_params(self) -> int:
        return sum(self.keras_param_counts())

    # ---- running -----------------------------------------------------------------------------------

    def example_inputs(self, batch_size: int = 2, time_steps: int = 5, seed: int = 0) -> list[Tensor]:
        """Random inputs of the right shapes and kinds (token ids for Embedding inputs)."""
        g = torch.Generator().manual_seed(seed)
        dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
        out = []
        for spec in self.input_specs:
            dims = [batch_size if i == 0 else (time_steps if d is None else int(d)) for i, d in enumerate(spec.shape)]
            if spec.vocabulary is not None:
                out.append(torch.randint(0, spec.vocabulary, dims, generator=g))
            elif spec.dtype.startswith(("int", "uint")):
                out.append(torch.randint(0, 10, dims, generator=g))
            else:
                out.append(torch.randn(dims, generator=g, dtype=dtype))
        return out

    def build(self) -> KerasModel:
        """Size every lazily-sized layer by one dry run on :meth:`example_inputs` (fresh Keras
        initial weights), as Keras builds a model whose input shapes are known."""
        self._dry_run()
        return self

    def _dry_run(self) -> None:
        """One call on :meth:`example_inputs` (batch 1, 2 free steps) in eval mode without
        gradients, leaving the training flag and stateful layers' stored states as they were."""
        was = self.training
        self.eval()
        saved = [(m, m._states) for m in self.modules() if getattr(m, "stateful", False)]
        try:
            with torch.no_grad():
                self(*self.example_inputs(batch_size=1, time_steps=2))
        finally:
            self.train(was)
            for m, states in saved:
                m._states = states

    @property
    def input_arg_names(self) -> list[str]:
        """The names ``forward`` takes the inputs by: the Keras input names as identifiers."""
        return input_arg_names(s.name for s in self.input_specs)

    @ForwardWithInputNames
    def forward(self, *inputs: Any, mask: Any = None, **named: Any) -> Any:
        """``forward(<one argument per Keras input>, mask=None)``; see :mod:`keraslike_torch.signature`."""
        args, mask = bind_inputs(self.input_arg_names, inputs, mask, named) if named or len(inputs) > 1 \
            else (list(inputs), mask)
        outputs, masks = self.call_with_masks(args, mask)
        if not tracing.is_tracing():  # no tracer values left on the module
            self.output_masks = masks
        return outputs

    def compute_mask(self, inputs: Any = None, mask: Any = None) -> Any:
        return self.output_masks

    def call_with_masks(self, inputs: list[Any], masks: Any = None) -> tuple[Any, Any]:
        """Run the graph; returns (outputs, their masks)."""
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and len(self.input_refs) > 1:
            inputs = list(inputs[0])
        if len(inputs) != len(self.input_refs):
            names = [s.name for s in self.input_specs]
            raise ValueError(f"model {self.name!r} takes {len(self.input_refs)} inputs {names}, got {len(inputs)}")
        if masks is None or isinstance(masks, Tensor):
            masks = [masks] + [None] * (len(inputs) - 1)
        float_dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), None)
        values: dict[Ref, Any] = {}
        vmasks: dict[Ref, Any] = {}
        for ref, x, m, spec in zip(self.input_refs, inputs, masks, self.input_specs):
            if not isinstance(x, Tensor):
                x = torch.as_tensor(np.asarray(x))
            if x.is_floating_point() and float_dtype is not None and spec.vocabulary is None:
                x = x.to(float_dtype)  # Keras casts inputs to the layers' dtype
            values[ref], vmasks[ref] = x, m
        for node in self.nodes:
            try:
                self._run_node(node, values, vmasks)
            except Exception as e:
                guards.tag_part(e, f"layer {node.layer!r}")  # the innermost layer, for check_fits
                raise
        outputs = _map(self.output_refs, lambda r: values[r])
        out_masks = _map(self.output_refs, lambda r: vmasks.get(r))
        if isinstance(outputs, list):
            outputs, out_masks = (tuple(outputs), tuple(out_masks)) if len(outputs) != 1 else (outputs[0], out_masks[0])
        elif isinstance(outputs, dict):
            outputs, out_masks = tuple(outputs.values()), tuple(out_masks.values())
        return outputs, out_masks

    def _run_node(self, node: GraphNode, values: dict, vmasks: dict) -> None:
        module = self.layer(node.layer)
        try:
            args, kwargs, in_mask = _call_args(node, module, values.__getitem__, vmasks.get)
        except KeyError as e:
            raise RuntimeError(f"layer {node.layer!r} needs tensor {e} that no earlier node produced") from None
        if isinstance(module, KerasOp):
            out = module(*args)
            out_masks: Any = None
        else:
            # Keras passes the inputs' masks to layers that take one, unless the call gave a mask
            # itself (Keras 3 records masks as explicit op outputs; a recorded ``mask=None`` still
            # means "the input's mask", as in Keras 3's Layer.__call__).
            if kwargs.get("mask") is None:
                kwargs.pop("mask", None)
                if _accepts_mask(module, in_mask):
                    kwargs["mask"] = in_mask
            inputs = args[0] if args else None
            if isinstance(module, KerasModel):
                x = args if len(args) != 1 or not isinstance(args[0], (list, tuple)) else list(args[0])
                out, out_masks = module.call_with_masks(list(x), kwargs.get("mask"))
            else:
                out = module(*args, **kwargs)
                fn = getattr(module, "compute_mask", None)
                out_masks = fn(inputs, kwargs.get("mask")) if fn is not None else None
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        masks = list(out_masks) if isinstance(out_masks, (tuple, list)) else [out_masks] + [None] * (len(outs) - 1)
        for i, o in enumerate(outs):
            r = Ref(node.layer, node.index, i)
            values[r] = o
            vmasks[r] = masks[i] if i < len(masks) else None


def _is_tensor_argument(value: Any) -> bool:
    """Keras 3 ``CallSpec``: a tensor, or a non-empty structure of tensors (or None)."""
    flat = _flatten(value)
    return _is_ref(value) or (isinstance(value, (list, tuple, dict)) and bool(flat)
                              and all(_is_ref(v) or v is None for v in flat) and any(_is_ref(v) for v in flat))


def _call_args(node: GraphNode, module: nn.Module, value: Any, mask_of: Any) -> tuple[Any, dict, Any]:
    """A node's call as Keras makes it: (args, kwargs, the input mask Keras fills ``mask`` with),
    each Ref looked up by ``value`` and ``mask_of`` (also used to write code, see codegen)."""
    args = _map(node.args, value)
    kwargs = {k: _map(v, value) for k, v in node.kwargs.items() if k in ("mask", "initial_state")}
    if isinstance(module, KerasOp):
        return args, kwargs, None
    if node.explicit:
        # Keras 3 call: args as recorded; the input mask fills ``mask`` only when the call has
        # exactly one tensor argument (SPEC 5a: not for ``LSTM(x, initial_state=[h, c])``)
        tensor_args = [a for a in node.args if _is_tensor_argument(a)]
        tensor_args += [v for k, v in node.kwargs.items() if k != "mask" and _is_tensor_argument(v)]
        return args, kwargs, (_map(tensor_args[0], mask_of) if len(tensor_args) == 1 else None)
    # Keras 1/2 call: a list of inbound tensors; an RNN's extra tensors are states.
    flat = args
    if isinstance(module, (RNN, Bidirectional)) and len(flat) > 1:
        kwargs.setdefault("initial_state", list(flat[1:]))
        return [flat[0]], kwargs, mask_of(_flatten(node.args)[0])
    if len(flat) == 1:
        return [flat[0]], kwargs, mask_of(node.args[0])
    return [list(flat)], kwargs, [mask_of(r) for r in node.args]


def _accepts_mask(module: nn.Module, mask: Any) -> bool:
    if mask is None or (isinstance(mask, list) and all(m is None for m in mask)):
        return False
    if isinstance(module, (RNN, Bidirectional, KerasModel)):
        return True
    return bool(getattr(module, "supports_masking", False))


def _check_shapes(module: nn.Module, arrays: list[np.ndarray]) -> None:
    """Raise the layer's own error now if ``arrays`` do not fit a built ``module``."""
    try:
        expected = [tuple(s) for s in module.keras_weight_shapes()]  # type: ignore[operator]
    except (RuntimeError, ValueError):
        # not sized yet: a fresh layer of the same configuration takes the arrays first
        if isinstance(module, KerasModel):  # check each sublayer; nothing is assigned here
            for sub, sub_arrays in module._weight_plan(arrays):
                _check_shapes(sub, sub_arrays)
            return
        config = dict(module.get_config())  # type: ignore[operator]
        config.pop("device", None)
        type(module)(**config).set_keras_weights(arrays)  # type: ignore[operator]
        return
    got = [tuple(np.shape(a)) for a in arrays]
    bad_kind = [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind != "f"]
    if got != expected or bad_kind:
        module.set_keras_weights(arrays)  # type: ignore[operator]  # raises its descriptive error
        raise ValueError(f"{getattr(module, 'name', module)}: expected shapes {expected}, got {got}")


def _assign_atomically(plan: list[tuple[nn.Module, list[np.ndarray]]], check: bool = True) -> None:
    """Set weights layer by layer; with ``check`` every layer's arrays are checked against its
    shapes before the first assignment, so that a bad file changes nothing."""
    if check:
        for module, arrays in plan:
            _check_shapes(module, arrays)
    for module, arrays in plan:
        module.set_keras_weights(arrays)  # type: ignore[operator]


# ---- configs -> modules ------------------------------------------------------------------------


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
    if isinstance(config, list) or class_name in _MODEL_CLASSES:  # a nested model
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
    from .registry import converter_names

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
                node.args, node.kwargs = _map(node.args, shift), _map(node.kwargs, shift)
            outputs = _map(outputs, shift)
    missing = [r.layer for r in inputs if r.layer not in specs_by_name]
    if missing:
        raise KerasFileError(f"model {name!r}: input layers {missing} are not InputLayers of the config")
    _check_references(name, layers, specs_by_name, pending, outputs)
    nodes = _toposort(pending, {r for r in inputs}, name)
    specs = [specs_by_name[r.layer] for r in inputs]
    for spec, ref in zip(specs, inputs):  # inputs feeding an Embedding carry token ids
        for node in nodes:
            mod = layers[node.layer]
            if type(mod).__name__ == "Embedding" and ref in _flatten(node.args):
                spec.vocabulary = getattr(mod, "input_dim", None)
    class_name = str(config.get("class_name", "Functional"))
    return KerasModel(name, class_name, layers, nodes, list(inputs), outputs, specs)


def _check_references(model: str, layers: dict[str, nn.Module], inputs: dict[str, InputSpec],
                      nodes: list[GraphNode], outputs: Any) -> None:
    """Every tensor a node or the model's outputs name comes from a layer of the config, and the
    model has outputs: a graph that would fail (or return nothing) at its first call fails here."""
    flat_outputs = [r for r in _flatten(outputs) if _is_ref(r)]
    if not flat_outputs:
        raise KerasFileError(f"model {model!r}: the config names no output tensors (output_layers)")
    known = set(layers) | set(inputs)
    for node in nodes:
        for r in _flatten([node.args, list(node.kwargs.values())]):
            if _is_ref(r) and r.layer not in known:
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
    if entry.get("class_name") not in _MODEL_CLASSES:
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
            needs = [r for r in _flatten([node.args, list(node.kwargs.values())]) if _is_ref(r)]
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
        from .formats import _generation_of_config

        if not isinstance(config, dict):
            raise TypeError(f"model_from_config takes a config dict, got {type(config).__name__}")
        depth = _nesting_depth(config, guards.MAX_JSON_DEPTH)
        if depth > guards.MAX_JSON_DEPTH:
            raise KerasFileError(
                f"model config nests more than {guards.MAX_JSON_DEPTH} levels deep; Keras configs nest far less")
        ctx = ConvertContext(keras_version=keras_version or _generation_of_config(config),
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
    from .formats import _ours

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


# ---- weights -----------------------------------------------------------------------------------


def _legacy_plan(model: KerasModel, weights: LegacyWeights, generation: int,
                 by_name: bool) -> list[tuple[nn.Module, list[np.ndarray]]]:
    plan = []
    if by_name:
        file_layers = set(weights.layer_names)
        for keras_name, module in model.keras_layers():
            if keras_name in file_layers and weights.weight_names(keras_name):
                arrays = weights.arrays(keras_name)
                plan.append((module, to_keras_layout(module, arrays, generation, f"layer {keras_name!r}")))
        return plan
    targets = [(n, m) for n, m in model.keras_layers() if _has_weights(m)]
    sources = weights.layers_with_weights()
    if len(targets) != len(sources):
        raise KerasFileError(
            f"the file has weights for {len(sources)} layers {sources} but model {model.name!r} has "
            f"{len(targets)} layers with weights {[n for n, _ in targets]}"
        )
    for (keras_name, module), source in zip(targets, sources):
        arrays = weights.arrays(source)
        plan.append((module, to_keras_layout(module, arrays, generation, f"layer {keras_name!r}")))
    return plan


def _snake(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_arrays(store: Keras3Weights, path: str, module: nn.Module) -> list[np.ndarray]:
    if isinstance(module, Bidirectional):
        return (_keras3_arrays(store, f"{path}/forward_layer", module.forward_layer)
                + _keras3_arrays(store, f"{path}/backward_layer", module.backward_layer))
    if isinstance(module, RNN):
        return store.vars(f"{path}/cell") + store.vars(path)
    inner = getattr(module, "layer", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "TimeDistributed":
        return _keras3_arrays(store, f"{path}/layer", inner)
    return store.vars(path)


def _keras3_plan(model: KerasModel, store: Keras3Weights, path: str = "") -> list[tuple[nn.Module, list[np.ndarray]]]:
    """Keras 3 names each layer's group by its class in snake_case, counted per container, in the
    container's ``layers`` order (InputLayers count in functional models, not in Sequential)."""
    plan = []
    used: dict[str, int] = {}
    prefix = f"{path}/layers" if path else "layers"

    def unique(base: str) -> str:
        if base in used:
            used[base] += 1
            return f"{base}_{used[base]}"
        used[base] = 0
        return base

    entries: list[tuple[str, Any]] = []
    if model.keras_class != "Sequential":
        entries.extend(("InputLayer", None) for _ in model.input_specs)
    for _, module in model.keras_layers():
        if isinstance(module, KerasOp):
            continue
        cls = module.keras_class if isinstance(module, KerasModel) else _keras_class_of(module)
        entries.append((cls, module))
    for cls, module in entries:
        sub = f"{prefix}/{unique(_snake(cls))}"
        if module is None:
            continue
        if isinstance(module, KerasModel):
            plan.extend(_keras3_plan(module, store, sub))
            continue
        if not _has_weights(module):
            continue
        if not store.has(sub):
            raise KerasFileError(f"the weights file has no group {sub!r} for layer {module.name!r}")
        arrays = _keras3_arrays(store, sub, module)
        plan.append((module, to_keras_layout(module, arrays, 3, f"layer {module.name!r}")))
    return plan


def _keras_class_of(module: nn.Module) -> str:
    return getattr(module, "keras_class", None) or getattr(getattr(module, "cell", None), "keras_class", None) \
        or type(module).__name__


def load_weights(module: nn.Module, path: str | os.PathLike, by_name: bool = False,
                 max_bytes: int | None = None) -> nn.Module:
    """Load a weights file (legacy weights-only or full-model ``.h5``, Keras 3 ``.weights.h5`` or
    ``.keras``) into a module built from the same architecture, by layer order as Keras does or by
    layer name. Atomic: on any error the module keeps its weights. ``max_bytes`` caps what a zip
    member may inflate to (default :data:`keraslike_torch.guards.DEFAULT_MAX_BYTES`)."""
    if not isinstance(module, KerasModel):
        if not hasattr(module, "set_keras_weights"):
            raise TypeError(f"load_weights needs a keraslike_torch model or layer, got {type(module).__name__}")
        arrays = read_weights(path, max_bytes=max_bytes)
        name = getattr(module, "name", None)
        if by_name:
            if name not in arrays:
                raise KerasFileError(f"the file has no weights for a layer named {name!r}; it has {list(arrays)}")
            chosen = arrays[name]
        elif len(arrays) == 1:
            chosen = next(iter(arrays.values()))
        else:
            raise KerasFileError(
                f"the file holds weights of {len(arrays)} layers {list(arrays)}; pass by_name=True and "
                "give the layer the Keras layer's name, or use kt.read_weights"
            )
        _assign_atomically([(module, to_keras_layout(module, chosen, 2, repr(name)))])
        return module
    with open_keras_file(path, max_bytes) as kf:
        plan = _plan_for(module, kf, by_name)
        _assign_atomically(plan)
    return module


def _plan_for(model: KerasModel, kf: KerasFile, by_name: bool) -> list[tuple[nn.Module, list[np.ndarray]]]:
    if isinstance(kf.weights, LegacyWeights):
        return _legacy_plan(model, kf.weights, kf.generation, by_name)
    if isinstance(kf.weights, Keras3Weights):
        if by_name:
            return _keras3_by_name(model, kf.weights)
        return _keras3_plan(model, kf.weights)
    raise KerasFileError("the file holds no weights")


def _keras3_by_name(model: KerasModel, store: Keras3Weights) -> list[tuple[nn.Module, list[np.ndarray]]]:
    """Match Keras 3 weight groups to layers by the ``name`` attribute Keras 3.x records."""
    found: dict[str, str] = {}

    def walk(path: str) -> None:
        for child in store.children(path):
            sub = f"{path}/{child}" if path else child
            name = store.name_at(sub)
            if name is not None and name not in found:
                found[name] = sub
            walk(sub)

    walk("")
    plan = []

    def match(m: KerasModel) -> None:
        for keras_name, module in m.keras_layers():
            if isinstance(module, KerasModel):
                match(module)  # nested models: their layers have groups of their own
            elif keras_name in found and _has_weights(module):
                arrays = _keras3_arrays(store, found[keras_name], module)
                plan.append((module, to_keras_layout(module, arrays, 3, f"layer {keras_name!r}")))

    match(model)
    return plan


def _keras3_layer_groups(store: Keras3Weights, path: str = "") -> list[str]:
    """Paths of the layer groups of a Keras 3 weights tree (nested models expanded)."""
    out: list[str] = []
    layers = f"{path}/layers" if path else "layers"
    if not store.has(layers):
        return out
    for child in store.children(layers):
        sub = f"{layers}/{child}"
        if store.has(f"{sub}/layers"):
            out.extend(_keras3_layer_groups(store, sub))
        else:
            out.append(sub)
    return out


def _keras3_group_arrays(store: Keras3Weights, path: str) -> list[np.ndarray]:
    """A layer group's arrays in Keras ``get_weights()`` order: its own variables, then those of
    its sublayers (a Bidirectional's forward layer before its backward layer)."""
    arrays = store.vars(path)
    children = store.children(path)
    order: list[str] = [c for c in ("forward_layer", "backward_layer") if c in children]
    order += sorted(c for c in children if c not in order)
    for child in order:
        arrays += _keras3_group_arrays(store, f"{path}/{child}")
    return arrays


def read_weights(path: str | os.PathLike, max_bytes: int | None = None) -> dict[str, list[np.ndarray]]:
    """Each layer's arrays from a weights file, by layer name, in the order Keras's
    ``layer.get_weights()`` lists them, as the file stores them (legacy files: in ``weight_names``
    order, layouts such as CuDNN's unconverted; Keras 3 files: by the layer names Keras 3.x
    records, or the group paths of older files).

    Pass them to a module's ``set_keras_weights`` through
    :func:`keraslike_torch.layouts.to_keras_layout` (which converts CuDNN and Keras 1 layouts).
    ``max_bytes`` as for :func:`load_model`.
    """
    with open_keras_file(path, max_bytes) as kf:
        if isinstance(kf.weights, LegacyWeights):
            return {n: kf.weights.arrays(n) for n in kf.weights.layer_names if kf.weights.weight_names(n)}
        if isinstance(kf.weights, Keras3Weights):
            store = kf.weights
            out: dict[str, list[np.ndarray]] = {}
            for group in _keras3_layer_groups(store):
                arrays = _keras3_group_arrays(store, group)
                if arrays:
                    out[store.name_at(group) or group] = arrays
            return out
        raise KerasFileError(f"{os.fspath(path)!r} holds no weights")


def load_model(path: str | os.PathLike, custom_objects: dict | None = None,
               max_bytes: int | None = None) -> KerasModel:
    """Load a whole Keras model file without TensorFlow: Keras 3 ``.keras`` zips and legacy HDF5
    from Keras 1.x/2.x, tf.keras and Keras 3's legacy writer. The format is read from the bytes.
    ``custom_objects`` maps a Keras class name (or layer name) to a torch module replacing it.
    The model is returned in eval mode, as Keras's ``predict`` runs it (``.train()`` for training).
    ``max_bytes`` caps what a zip member may inflate to (default 8 GiB,
    :data:`keraslike_torch.guards.DEFAULT_MAX_BYTES`); see the README's "Loading untrusted files".

    >>> import keraslike_torch as kt                                     # doctest: +SKIP
    >>> model = kt.load_model("../shared/models/lens_poem_simplernn/char_rnn.h5")  # doctest: +SKIP
    """
    with open_keras_file(path, max_bytes) as kf:
        if kf.config is None:
            raise KerasFileError(
                f"{os.fspath(path)!r} holds weights only; build the model with kt.model_from_json(...) "
                "and use kt.load_weights(model, path)"
            )
        if kf.kind == "json":
            raise KerasFileError(f"{os.fspath(path)!r} holds an architecture only: use kt.model_from_json")
        config = kf.config
        if "class_name" not in config and "config" not in config:
            raise KerasFileError(f"{os.fspath(path)!r}: model config without class_name")
        ctx = ConvertContext(keras_version=kf.generation, custom_objects=dict(custom_objects or {}))
        model = model_from_config(config, ctx=ctx)
        plan = _plan_for(model, kf, by_name=False)
        _assign_atomically(plan, check=False)  # a fresh model: an error discards it anyway
        model.check_fits()
    return model.eval()


def model_from_keras_object(obj: Any, generation: int) -> KerasModel:
    """A live Keras model -> KerasModel (config + weights), used by :func:`from_keras`."""
    config = {"class_name": type(obj).__name__, "config": obj.get_config()}
    if config["class_name"] not in _MODEL_CLASSES:
        config["class_name"] = "Functional"
    ctx = ConvertContext(keras_version=generation)
    model = model_from_config(config, ctx=ctx)
    model.set_keras_weights(obj.get_weights())
    return model.eval()


@register(*_MODEL_CLASSES)
def _nested_model(config: dict, ctx: ConvertContext) -> nn.Module:
    return model_from_config({"class_name": "Functional" if "layers" in config and "input_layers" in config
                              else "Sequential", "config": config}, ctx=ctx)


def _unsupported(kind: str, why: str) -> Any:
    def fail(config: dict, ctx: ConvertContext) -> nn.Module:
        raise UnsupportedLayerError(
            f"{kind} layer {config.get('name', '?')!r}: {why}; pass custom_objects={{{kind!r}: <torch module>}} "
            f"(or keyed by the layer name) to replace it"
        )

    return fail


register("Lambda")(_unsupported("Lambda", "it holds serialized Python code, which is never executed"))
register("TFOpLambda", "SlicingOpLambda")(
    _unsupported("TFOpLambda", "TensorFlow ops inside tf.keras graphs are not converted")
)
