"""What a Keras file needs to know about a torch module: its layers in Keras's ``model.layers``
order, each call (node) in the form of the target generation, and every tensor's shape.

Any exportable module becomes a :class:`~keraslike_torch.porting.graph.KerasModel`: a loaded
model is one; a single kt layer, or an ``nn.Sequential`` of them, is wrapped as a model with one
Input of the first layer's feature size and a free time axis. Shapes come from running the graph
twice on example inputs (batch and time lengths that differ between the two runs are free).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from ...layers import Embedding, KerasOp, Masking, TimeDistributed
from ...recurrent import RNN, Bidirectional
from ..graph import GraphNode, KerasModel, Ref
from .configs import ExportError, dtype_name, layer_label, snake_case

__all__ = ["ExportGraph", "as_keras_model", "export_graph", "example_inputs", "flat_refs"]


@dataclass
class _Spec:  # the fields of graph.InputSpec that KerasModel reads
    name: str
    shape: tuple[int | None, ...]
    dtype: str
    vocabulary: int | None = None


def _flatten(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flatten(x[k])]  # Keras's tree.flatten sorts dict keys
    return [x]


def flat_refs(node: GraphNode) -> list[Ref]:
    """The tensors a node takes, in Keras's ``node.input_tensors`` order."""
    return [r for r in _flatten([node.args, node.kwargs]) if isinstance(r, Ref)]


def _feature_size(module: nn.Module) -> tuple[tuple[int | None, ...], str, int | None]:
    """(batch shape, dtype, vocabulary) of the Input a single layer is wrapped with."""
    if isinstance(module, Embedding):
        return (None, None), "int32", int(module.input_dim)
    inner: Any = module
    if isinstance(inner, Bidirectional):
        inner = inner.forward_layer
    if isinstance(inner, TimeDistributed):
        inner = inner.layer
    size = getattr(inner, "input_size", None)
    if size is None and hasattr(inner, "num_features"):
        size = inner.num_features
    if not isinstance(size, int):
        raise ExportError(
            f"{layer_label(module)}: its input feature size is not known yet; call it once on an "
            "input (or pass input_size=) before saving it"
        )
    return (None, None, int(size)), dtype_name(module), None


def _unique_names(modules: list[nn.Module]) -> list[str]:
    taken: dict[str, int] = {}
    names = []
    for m in modules:
        base = getattr(m, "name", None) or snake_case(getattr(m, "keras_class", "") or type(m).__name__)
        name = base
        while name in taken:
            taken[base] += 1
            name = f"{base}_{taken[base]}"
        taken.setdefault(name, 0)
        names.append(name)
    return names


def as_keras_model(module: nn.Module) -> KerasModel:
    """``module`` as a KerasModel: itself, or a wrapper around a layer / an ``nn.Sequential``."""
    if isinstance(module, KerasModel):
        return module
    chain = list(module) if isinstance(module, nn.Sequential) else [module]
    if not chain:
        raise ExportError("an empty nn.Sequential has nothing to save")
    for m in chain:
        if isinstance(m, (nn.Sequential, KerasModel)) and m is not module:
            raise ExportError(f"nested container {type(m).__name__} inside an nn.Sequential: not written")
    shape, dtype, vocab = _feature_size(chain[0])
    names = _unique_names(chain)
    input_name = "input_layer"
    nodes, prev = [], Ref(input_name, 0, 0)
    for name in names:
        nodes.append(GraphNode(name, 0, [prev], {}, True))
        prev = Ref(name, 0, 0)
    wrapped = KerasModel(
        getattr(module, "name", None) or ("sequential" if len(chain) > 1 else "functional"),
        "Sequential" if len(chain) > 1 else "Functional", dict(zip(names, chain)), nodes,
        [Ref(input_name, 0, 0)], [prev], cast(Any, [_Spec(input_name, shape, dtype, vocab)]),
    )
    n_out = _output_count(module, wrapped)
    if n_out > 1:
        if len(chain) > 1:
            raise ExportError(f"{layer_label(chain[-1])} returns {n_out} tensors; a Sequential model returns one")
        wrapped.output_refs = [Ref(names[0], 0, i) for i in range(n_out)]
    return wrapped


def _output_count(module: nn.Module, wrapped: KerasModel) -> int:
    """How many tensors the unwrapped module returns (a layer with return_state: several)."""
    was = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(*example_inputs(wrapped, 1, 2))
    finally:
        module.train(was)
    return len(out) if isinstance(out, (tuple, list)) else 1


def example_inputs(model: KerasModel, batch: int, steps: int, seed: int = 0) -> list[Tensor]:
    """Inputs of the model's shapes with padding in them (input k: row k pre-padded, row k + 1
    post-padded with zeros), so that Embedding(mask_zero) and Masking masks are exercised and
    differ between inputs."""
    out = model.example_inputs(batch_size=batch, time_steps=steps, seed=seed)
    for k, (spec, x) in enumerate(zip(model.input_specs, out)):
        if spec.vocabulary is not None:
            x.clamp_(min=1)
        if x.dim() >= 2 and x.shape[1] > 1:  # each input its own rows, so that masks differ
            x[k % batch, :1] = 0
            x[(k + 1) % batch, -1:] = 0
    return out


@dataclass
class ExportGraph:
    """A model as a Keras file describes it (see the module docstring)."""

    model: KerasModel
    order: list[str]  # Keras model.layers order, InputLayers included
    nodes: dict[str, list[GraphNode]]  # each layer's calls, by node index
    shapes: dict[Ref, tuple[tuple[int | None, ...], str]] = field(default_factory=dict)
    extra: dict[str, nn.Module] = field(default_factory=dict)  # mask ops written for Keras 3

    @property
    def inputs(self) -> list[Any]:
        return list(self.model.input_specs)

    def module(self, name: str) -> nn.Module:
        return self.extra[name] if name in self.extra else self.model.layer(name)

    def layers(self) -> list[tuple[str, nn.Module | None]]:
        """(name, module) in Keras order; None for an InputLayer."""
        inputs = {r.layer for r in self.model.input_refs}
        return [(n, None if n in inputs else self.module(n)) for n in self.order]

    def input_shape(self, name: str) -> Any:
        """The shape of the first call's inputs (Keras's build_config), or None."""
        calls = self.nodes.get(name) or []
        if not calls:
            return None
        refs = [a for a in calls[0].args]
        first = refs[0] if refs else None
        if isinstance(first, list):
            return [list(self.shapes[r][0]) for r in first if isinstance(r, Ref)]
        return list(self.shapes[first][0]) if isinstance(first, Ref) else None


def _keras3_node(node: GraphNode, module: nn.Module) -> GraphNode:
    """A node read from a Keras 1/2 config in the Keras 3 form: (x, initial_state=[...])."""
    if node.explicit:
        return node
    refs = list(node.args)
    if isinstance(module, (RNN, Bidirectional)) and len(refs) > 1:
        return GraphNode(node.layer, node.index, [refs[0]], {"initial_state": refs[1:]}, True)
    return GraphNode(node.layer, node.index, [refs[0]] if len(refs) == 1 else [refs], {}, True)


def _keras2_node(node: GraphNode, module: nn.Module, ops: set[str]) -> GraphNode:
    """A Keras 3 node in the tf-keras form: a flat list of inbound tensors, states last; the
    mask ops Keras 3 records are dropped (tf-keras propagates masks itself)."""
    if not node.explicit:
        return node
    args = _flatten(node.args)
    states = _flatten(node.kwargs.get("initial_state") or [])
    refs = [r for r in [*args, *states] if isinstance(r, Ref)]
    for r in refs:
        if r.layer in ops:
            raise ExportError(
                f"layer {node.layer!r} takes the output of the Keras 3 op {r.layer!r}; tf-keras files "
                "cannot hold Keras 3 ops: save to .keras"
            )
    if len(refs) != len([a for a in [*args, *states] if a is not None]):
        raise ExportError(f"layer {node.layer!r} is called with constants; only tensors can be written to .h5")
    return GraphNode(node.layer, node.index, refs, {}, False)


def _map_graph_order(model: KerasModel, nodes: dict[str, list[GraphNode]], outputs: list[Ref],
                     extra: dict[str, nn.Module]) -> list[str]:
    """Keras's ``map_graph`` layer order (keras/src/ops/function.py, tf-keras functional.py):
    layers by decreasing depth from the outputs, ties by first visit of a depth-first search."""
    inputs = {r.layer for r in model.input_refs}
    finished: set[tuple[str, int]] = set()
    post: list[tuple[str, int]] = []
    visit_index: dict[str, int] = {}

    def parents(key: tuple[str, int]) -> list[tuple[str, int]]:
        if key[0] in inputs:
            return []
        return [(r.layer, r.node) for r in flat_refs(nodes[key[0]][key[1]])]

    def walk(key: tuple[str, int]) -> None:
        stack: list[tuple[tuple[str, int], int]] = [(key, 0)]
        while stack:
            k, i = stack.pop()
            if i == 0:
                if k in finished:
                    continue
                visit_index.setdefault(k[0], len(visit_index))
            ps = parents(k)
            if i < len(ps):
                stack.append((k, i + 1))
                if ps[i] not in finished:
                    stack.append((ps[i], 0))
                continue
            if k not in finished:
                finished.add(k)
                post.append(k)

    for r in outputs:
        walk((r.layer, r.node))
    node_depth: dict[tuple[str, int], int] = {}
    layer_depth: dict[str, int] = {}
    for key in reversed(post):
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(key[0], 0))
        layer_depth[key[0]] = node_depth[key] = depth
        for p in parents(key):
            node_depth[p] = max(depth + 1, node_depth.get(p, 0))
    for r in model.input_refs:  # inputs that reach no output
        if r.layer not in layer_depth:
            layer_depth[r.layer], visit_index[r.layer] = 0, -1
    missing = [n for n, _ in model.keras_layers() if n not in layer_depth and n in nodes and n not in extra]
    if missing:
        raise ExportError(f"model {model.name!r}: layers {missing} do not lead to any output; Keras would drop them")
    return sorted(layer_depth, key=lambda n: (-layer_depth[n], visit_index[n]))


def export_graph(module: nn.Module, generation: int) -> ExportGraph:
    """The module's layers, nodes (in the generation's form) and tensor shapes."""
    model = as_keras_model(module)
    shapes, masks = _shapes(model)
    ops = {n for n, m in model.keras_layers() if isinstance(m, KerasOp)}
    nodes: dict[str, list[GraphNode]] = {}
    extra: dict[str, nn.Module] = {}
    for node in model.nodes:
        mod = model.layer(node.layer)
        if generation < 3 and node.layer in ops:
            continue
        conv = _keras3_node(node, mod) if generation >= 3 else _keras2_node(node, mod, ops)
        if generation >= 3 and not node.explicit and "initial_state" in conv.kwargs:
            conv = _with_explicit_mask(conv, model, masks, shapes, nodes, extra)
        nodes.setdefault(node.layer, []).append(conv)
    for calls in nodes.values():
        calls.sort(key=lambda n: n.index)
    outputs = [r for r in _flatten(model.output_refs) if isinstance(r, Ref)]
    for r in outputs:
        if r.layer in ops and generation < 3:
            raise ExportError(f"model output {r.layer!r} is a Keras 3 op; save to .keras")
    graph = ExportGraph(model, [], nodes, shapes, extra)
    graph.order = _map_graph_order(model, nodes, outputs, extra)
    _check_state_masks(model, masks, generation, nodes)
    return graph


def _with_explicit_mask(node: GraphNode, model: KerasModel, masks: dict[Ref, Any], shapes: dict[Ref, Any],
                        nodes: dict[str, list[GraphNode]], extra: dict[str, nn.Module]) -> GraphNode:
    """tf-keras runs ``RNN(x, initial_state=...)`` with x's mask; Keras 3 only with an explicit
    ``mask=``. When the mask is the one an Embedding(mask_zero) or Masking layer made (passed on
    unchanged), write the ops that compute it, as Keras 3 records masks: NotEqual (and Any)."""
    from ..registry import convert_layer

    x = node.args[0] if node.args else None
    mask = masks.get(x) if isinstance(x, Ref) else None
    if mask is None:
        return node
    origin = next((n for n in model.nodes for r in [Ref(n.layer, n.index, 0)]
                   if masks.get(r) is mask and isinstance(model.layer(n.layer), (Embedding, Masking))), None)
    if origin is None or len(_flatten(origin.args)) != 1 or not isinstance(_flatten(origin.args)[0], Ref):
        return node  # another mask: _check_state_masks refuses the graph
    source = _flatten(origin.args)[0]
    layer = model.layer(origin.layer)
    taken = {n for n, _ in model.keras_layers()} | set(extra) | {r.layer for r in model.input_refs}

    def op(kind: str, args: list[Any], shape: tuple[Any, ...], **config: Any) -> Ref:
        # not Keras's own automatic names (not_equal, not_equal_1, ...), which its rebuild takes
        base = f"{origin.layer}_mask_{snake_case(kind)}"
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        extra[name] = convert_layer(f"ops.{kind}", {"name": name, **config})
        nodes[name] = [GraphNode(name, 0, args, {}, True)]
        shapes[Ref(name, 0, 0)] = (shape, "bool")
        return Ref(name, 0, 0)

    src_shape = shapes[source][0]
    if isinstance(layer, Embedding):
        ref = op("NotEqual", [source, 0], src_shape)
    else:
        ne = op("NotEqual", [source, float(getattr(layer, "mask_value", 0.0))], src_shape)
        ref = op("Any", [ne], src_shape[:-1], axis=-1, keepdims=False)
    return GraphNode(node.layer, node.index, node.args, {**node.kwargs, "mask": ref}, True)


def _check_state_masks(model: KerasModel, masks: dict[Ref, Any], generation: int,
                       written: dict[str, list[GraphNode]]) -> None:
    """SPEC 5a: a recurrent layer called with initial_state on a masked input runs masked in
    tf-keras and unmasked in Keras 3 (which fills ``mask`` only for one tensor argument)."""
    for node in model.nodes:
        module = model.layer(node.layer)
        if not isinstance(module, (RNN, Bidirectional)):
            continue
        refs = _flatten(node.args)
        x = refs[0] if refs else None
        states = len(refs) > 1 if not node.explicit else bool(node.kwargs.get("initial_state"))
        if not states or not isinstance(x, Ref) or masks.get(x) is None or node.kwargs.get("mask") is not None:
            continue
        if any(n.index == node.index and n.kwargs.get("mask") is not None for n in written.get(node.layer, [])):
            continue  # the mask is written explicitly
        if generation >= 3 and not node.explicit:
            raise ExportError(
                f"layer {node.layer!r} is called with initial_state on a masked input: tf-keras runs it "
                "masked, Keras 3 would run it unmasked (it fills mask only for one tensor argument); "
                "save to .h5 for tf-keras"
            )
        if generation < 3 and node.explicit:
            raise ExportError(
                f"layer {node.layer!r} is called with initial_state on a masked input without a mask: "
                "Keras 3 runs it unmasked, tf-keras would run it masked; save to .keras"
            )


def _shapes(model: KerasModel) -> tuple[dict[Ref, tuple[tuple[int | None, ...], str]], dict[Ref, Any]]:
    """Every tensor's Keras shape (two runs: dimensions that differ between them are None), and
    the masks of the first run."""
    free = any(d is None for spec in model.input_specs for d in spec.shape[1:])
    first, masks = _values(model, 2, 3, 0)
    runs = [first, _values(model, 3, 4, 1)[0] if free else first]  # only the batch axis is free
    out: dict[Ref, tuple[tuple[int | None, ...], str]] = {}
    for ref, a in runs[0].items():
        b = runs[1].get(ref)
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            continue
        shape = tuple(None if i == 0 or a.shape[i] != b.shape[i] else int(a.shape[i]) for i in range(a.dim())) \
            if a.dim() == b.dim() else tuple(None for _ in range(a.dim()))
        out[ref] = (shape, _dtype(a))
    return out, masks


def _dtype(t: Tensor) -> str:
    if t.dtype == torch.bool:
        return "bool"
    if not t.is_floating_point():
        return "int32" if t.dtype in (torch.int32, torch.int64) else str(t.dtype).replace("torch.", "")
    return {torch.float64: "float64", torch.float16: "float16", torch.bfloat16: "bfloat16"}.get(t.dtype, "float32")


def _values(model: KerasModel, batch: int, steps: int, seed: int) -> tuple[dict[Ref, Any], dict[Ref, Any]]:
    """Run the graph node by node (the model's own step), keeping every tensor and mask."""
    values: dict[Ref, Any] = {}
    masks: dict[Ref, Any] = {}
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            xs = example_inputs(model, batch, steps, seed)
            for ref, spec, x in zip(model.input_refs, model.input_specs, xs):
                values[ref] = x if spec.vocabulary is not None or not x.is_floating_point() else \
                    x.to(next((p.dtype for p in model.parameters()), x.dtype))
                if spec.vocabulary is None and spec.dtype.startswith("int"):
                    values[ref] = x.to(torch.int32)
            for node in model.nodes:
                model.run_node(node, values, masks)
    finally:
        model.train(was)
    return values, masks

