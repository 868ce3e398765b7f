"""The graph executor: a Keras model's layers and call graph as a torch module (``KerasModel``).

``KerasModel`` holds one submodule per Keras layer (named like the layer) and the call graph of
the Keras model; ``forward`` takes the Keras inputs in Keras order (one argument each, named after
the Keras inputs: ``inspect.signature(model.forward)`` lists them) and returns the outputs in
Keras order. Masks propagate as in Keras: Keras 1/2 graphs and Sequential models
propagate them implicitly through the layers' ``compute_mask``; Keras 3 functional graphs record
them as explicit ops passed as ``mask=`` (see :mod:`keraslike_torch.layers.ops`).

Models are built from configs by :mod:`.builders`, weights come from files through :mod:`.weights`,
and whole files load through :mod:`.loading`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..common import tracing
from ..common.signature import ForwardWithInputNames, bind_inputs, input_arg_names
from ..layers import KerasOp
from ..recurrent import RNN, Bidirectional
from . import guards
from .allocation import bounded_allocations
from .formats import KerasFileError
from .layouts import _trainable_flags, keras_weight_count, persistent_float_buffers
from .layouts import count_params as param_counts

__all__ = ["KerasModel", "Ref", "InputSpec", "GraphNode", "call_args", "accepts_mask", "assign_atomically",
           "clear_input_masks",
           "has_weights", "map_refs", "flatten", "is_ref"]


@dataclass(frozen=True)
class Ref:
    """A Keras tensor: output ``tensor`` of call ``node`` of layer ``layer``."""

    layer: str
    node: int
    tensor: int


@dataclass
class InputSpec:
    """One Keras input of a model: its name, batch shape, dtype and Embedding vocabulary."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    vocabulary: int | None = None  # input_dim of the Embedding it feeds, if any


@dataclass
class GraphNode:
    """One call of a layer in the graph, its arguments as recorded in the config."""

    layer: str  # Keras layer name
    index: int  # node index of that layer
    args: Any  # nested structure of Ref / constants
    kwargs: dict
    explicit: bool  # Keras 3 node: masks are explicit kwargs


def is_ref(x: Any) -> bool:
    """Whether ``x`` is a Keras tensor reference (:class:`Ref`)."""
    return isinstance(x, Ref)


def map_refs(x: Any, fn: Any) -> Any:
    """``x`` (nested lists, tuples, dicts) with every :class:`Ref` replaced by ``fn(ref)``."""
    if isinstance(x, Ref):
        return fn(x)
    if isinstance(x, (list, tuple)):
        return type(x)(map_refs(v, fn) for v in x)
    if isinstance(x, dict):
        return {k: map_refs(v, fn) for k, v in x.items()}
    return x


def flatten(x: Any) -> list[Any]:
    """The leaves of nested lists, tuples and dicts, in order."""
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in flatten(item)]
    if isinstance(x, dict):
        return [v for item in x.values() for v in flatten(item)]
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


def has_weights(module: nn.Module) -> bool:
    """Whether a layer holds Keras weights (parameters or persistent float buffers; ops never)."""
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
        return [m for _, m in self.keras_layers() if has_weights(m)]

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
        return [f for m in self.weighted_layers() for f in _trainable_flags(m)]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set every layer's weights from Keras ``model.get_weights()``; atomic."""
        assign_atomically(self._weight_plan(weights))

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
            if isinstance(e, MemoryError):
                raise KerasFileError(f"model {self.name!r}: {where}the config's sizes are too large: {e}") from e
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
        t = n = 0
        for _, m in self.keras_layers():
            a, b = param_counts(m)
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

    def _recurrent_modules(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, (RNN, Bidirectional))]

    def _dry_run(self) -> None:
        """One call on :meth:`example_inputs` (batch 1, 2 free steps) in eval mode without
        gradients, leaving the training flag and stateful layers' stored states as they were."""
        was = self.training
        self.eval()
        saved = [(m, m._states) for m in self.modules() if getattr(m, "stateful", False)]
        try:
            with torch.no_grad(), bounded_allocations(exempt=self._recurrent_modules()):
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
        """``forward(<one argument per Keras input>, mask=None)``; see :mod:`keraslike_torch.common.signature`."""
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
                self.run_node(node, values, vmasks)
            except Exception as e:
                guards.tag_part(e, f"layer {node.layer!r}")  # the innermost layer, for check_fits
                raise
        outputs = map_refs(self.output_refs, lambda r: values[r])
        out_masks = map_refs(self.output_refs, lambda r: vmasks.get(r))
        if isinstance(outputs, list):
            outputs, out_masks = (tuple(outputs), tuple(out_masks)) if len(outputs) != 1 else (outputs[0], out_masks[0])
        elif isinstance(outputs, dict):
            outputs, out_masks = tuple(outputs.values()), tuple(out_masks.values())
        return outputs, out_masks

    def run_node(self, node: GraphNode, values: dict, vmasks: dict) -> None:
        """Call one node's layer on the tensors (and implicit masks) already in ``values``/``vmasks``
        and record its outputs there: the one step of the graph loop (export reuses it)."""
        module = self.layer(node.layer)
        try:
            args, kwargs, in_mask = call_args(node, module, values.__getitem__, vmasks.get)
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
                if accepts_mask(module, in_mask):
                    kwargs["mask"] = in_mask
            inputs = args[0] if args else None
            if isinstance(module, KerasModel):
                x = args if len(args) != 1 or not isinstance(args[0], (list, tuple)) else list(args[0])
                out, out_masks = module.call_with_masks(list(x), kwargs.get("mask"))
            else:
                out = module(*args, **kwargs)
                fn = getattr(module, "compute_mask", None)
                out_masks = fn(inputs, kwargs.get("mask")) if fn is not None else None
        clear_input_masks(node, module, vmasks)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        masks = list(out_masks) if isinstance(out_masks, (tuple, list)) else [out_masks] + [None] * (len(outs) - 1)
        for i, o in enumerate(outs):
            r = Ref(node.layer, node.index, i)
            values[r] = o
            vmasks[r] = masks[i] if i < len(masks) else None


def clear_input_masks(node: GraphNode, module: nn.Module, *mask_tables: dict) -> None:
    """After a Keras 3 MultiHeadAttention node: its ``call`` removes the Keras masks of its query,
    value and key tensors, so later layers reading those tensors' masks at run time see none."""
    if not (node.explicit and getattr(module, "keras3_clears_input_masks", False)):
        return
    for r in flatten([node.args, [node.kwargs.get(k) for k in getattr(module, "keras_mask_args", ())]]):
        if is_ref(r):
            for table in mask_tables:
                table[r] = None


def _is_tensor_argument(value: Any) -> bool:
    """Keras 3 ``CallSpec``: a tensor, or a non-empty structure of tensors (or None)."""
    flat = flatten(value)
    return is_ref(value) or (isinstance(value, (list, tuple, dict)) and bool(flat)
                              and all(is_ref(v) or v is None for v in flat) and any(is_ref(v) for v in flat))


def call_args(node: GraphNode, module: nn.Module, value: Any, mask_of: Any) -> tuple[Any, dict, Any]:
    """A node's call as Keras makes it: (args, kwargs, the input mask Keras fills ``mask`` with),
    each Ref looked up by ``value`` and ``mask_of`` (also used to write code, see codegen)."""
    args = map_refs(node.args, value)
    passed = ("mask", "initial_state", *getattr(module, "keras_call_kwargs", ()))
    kwargs = {k: map_refs(v, value) for k, v in node.kwargs.items() if k in passed}
    if isinstance(module, KerasOp):
        return args, kwargs, None
    named = getattr(module, "keras_mask_args", None)
    if named:  # MultiHeadAttention: each input's mask fills ``<name>_mask`` (both generations)
        bound = {**dict(zip(named, node.args)), **{k: v for k, v in node.kwargs.items() if k in named}}
        for k, ref in bound.items():
            if is_ref(ref) and node.kwargs.get(f"{k}_mask") is None:
                kwargs[f"{k}_mask"] = mask_of(ref)
        return args, kwargs, kwargs.get(f"{named[0]}_mask")
    if node.explicit:
        # Keras 3 call: args as recorded; the input mask fills ``mask`` only when the call has
        # exactly one tensor argument (SPEC 5a: not for ``LSTM(x, initial_state=[h, c])``)
        tensor_args = [a for a in node.args if _is_tensor_argument(a)]
        tensor_args += [v for k, v in node.kwargs.items() if k != "mask" and _is_tensor_argument(v)]
        return args, kwargs, (map_refs(tensor_args[0], mask_of) if len(tensor_args) == 1 else None)
    # Keras 1/2 call: a list of inbound tensors; an RNN's extra tensors are states.
    flat = args
    if isinstance(module, (RNN, Bidirectional)) and len(flat) > 1:
        kwargs.setdefault("initial_state", list(flat[1:]))
        return [flat[0]], kwargs, mask_of(flatten(node.args)[0])
    if len(flat) == 1:
        return [flat[0]], kwargs, mask_of(node.args[0])
    return [list(flat)], kwargs, [mask_of(r) for r in node.args]


def accepts_mask(module: nn.Module, mask: Any) -> bool:
    """Whether Keras fills a layer's ``mask`` argument with the input mask ``mask`` (a real mask,
    and a layer that takes one: recurrent layers, nested models, ``supports_masking`` layers)."""
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


def assign_atomically(plan: list[tuple[nn.Module, list[np.ndarray]]], check: bool = True) -> None:
    """Set weights layer by layer; with ``check`` every layer's arrays are checked against its
    shapes before the first assignment, so that a bad file changes nothing."""
    if check:
        for module, arrays in plan:
            _check_shapes(module, arrays)
    for module, arrays in plan:
        module.set_keras_weights(arrays)  # type: ignore[operator]
