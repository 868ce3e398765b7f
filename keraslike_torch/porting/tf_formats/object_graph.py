"""The checkpoint's ``TrackableObjectGraph``: which variable belongs to which Keras layer.

A TensorFlow checkpoint stores, under ``_CHECKPOINTABLE_OBJECT_GRAPH``, every saved object with
its named children and, for a variable, the checkpoint key of its value. tf.keras names a
model's layers ``layer_with_weights-<i>`` (i counting the layers that have weights, in
``model.layers`` order) and ``layer-<j>``; a SavedModel's checkpoint also records each layer's
``variables`` list (the layer's ``weights`` in order). This module walks that graph, iteratively,
with bounded depth, refusing references out of range and layers that contain themselves.

>>> g = ObjectGraph([[("layer_with_weights-0", 1)], [("kernel", 2)], []], [None, None, ("k", "dense/kernel")])
>>> g.layer_nodes(), g.layer_variables(1)
([1], [2])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..guards import KerasFileError
from .protowire import Schema, parse

__all__ = ["ObjectGraph", "parse_object_graph", "MAX_OBJECT_NODES", "MAX_OBJECT_DEPTH"]

MAX_OBJECT_NODES = 2_000_000
MAX_OBJECT_DEPTH = 64  # a layer's variables sit a few levels below it (nested models: a few more)
VARIABLE_VALUE = "VARIABLE_VALUE"
# children of a Keras layer that never hold its weights (random-generator state, bookkeeping)
_NOT_WEIGHTS = {"_random_generator", "optimizer", "save_counter", "keras_api", "trainable_variables",
                "non_trainable_variables", "regularization_losses", "state_spec", "state_size", "signatures"}
_FROZEN_NAMES = {"moving_mean", "moving_variance"}  # BatchNormalization's non-trainable statistics
_LAYER = re.compile(r"layer_with_weights-(\d+)")

_REF: Schema = {1: ("node_id", "int"), 2: ("local_name", "str")}
_TENSOR: Schema = {1: ("name", "str"), 2: ("full_name", "str"), 3: ("checkpoint_key", "str")}
_NODE: Schema = {1: ("children[]", _REF), 2: ("attributes[]", _TENSOR)}
_GRAPH: Schema = {1: ("nodes[]", _NODE)}


class ObjectGraphError(KerasFileError):
    """An object graph that does not describe a tf.keras model's weights."""


@dataclass
class ObjectGraph:
    """Per node: its (local name, child node id) pairs, and for a variable (checkpoint key, full name)."""

    children: list[list[tuple[str, int]]]
    variables: list[tuple[str, str] | None]
    where: str = "the checkpoint"

    def child(self, node: int, name: str) -> int | None:
        for local, target in self.children[node]:
            if local == name:
                return target
        return None

    def layer_nodes(self, node: int = 0) -> list[int]:
        """The ``layer_with_weights-<i>`` children of ``node``, in i order (0, 1, 2, ... required)."""
        found: dict[int, int] = {}
        for local, target in self.children[node]:
            m = _LAYER.fullmatch(local)
            if m:
                found.setdefault(int(m.group(1)), target)
        if sorted(found) != list(range(len(found))):
            raise ObjectGraphError(f"{self.where}: the layers with weights are numbered {sorted(found)}, "
                                   "expected 0, 1, 2, ...")
        return [found[i] for i in range(len(found))]

    def layer_variables(self, node: int, what: str = "layer", above: frozenset[int] = frozenset()) -> list[int]:
        """The variable nodes of a layer, in the layer's Keras ``weights`` order: its recorded
        ``variables`` list (SavedModels), else its object tree depth first (checkpoints), with a
        nested model's trainable weights before its non-trainable ones as tf.keras lists them.
        ``above``: the objects this one sits in (a layer inside itself is a cycle)."""
        if node in above:
            raise ObjectGraphError(f"{self.where}: the object graph has a cycle: {what} (node {node}) "
                                   "contains itself: refusing")
        if len(above) >= MAX_OBJECT_DEPTH:
            raise ObjectGraphError(f"{self.where}: {what}'s objects nest deeper than {MAX_OBJECT_DEPTH} "
                                   "levels: refusing")
        listed = self.child(node, "variables")
        if listed is not None and self.variables[listed] is None:
            items = []
            for local, target in self.children[listed]:
                if not local.isdigit():
                    raise ObjectGraphError(f"{self.where}: {what}'s variables list has an entry named {local!r}")
                if self.variables[target] is None:
                    raise ObjectGraphError(f"{self.where}: entry {local} of {what}'s variables list (node "
                                           f"{target}) is not a saved variable")
                items.append((int(local), target))
            return [t for _, t in sorted(items)]
        if self.child(node, "layer_with_weights-0") is not None:  # a nested model
            inner = above | {node}
            sub = [v for layer in self.layer_nodes(node) for v in self.layer_variables(layer, what, inner)]
            return [v for v in sub if not self._frozen(v)] + [v for v in sub if self._frozen(v)]
        return self._walk(node, what, above | {node})

    def _walk(self, node: int, what: str, above: frozenset[int]) -> list[int]:
        """Variables below ``node``, depth first, children in order (trainable ones first)."""
        out: list[int] = []
        frozen: list[int] = []
        seen = {node}
        stack: list[tuple[int, frozenset[int]]] = [(node, above)]  # (object, the objects it sits in)
        while stack:
            current, path = stack.pop()
            if self.variables[current] is not None:
                (frozen if self._frozen(current) else out).append(current)
                continue
            if current != node and self.child(current, "layer_with_weights-0") is not None:
                sub = self.layer_variables(current, what, path)
                out.extend(v for v in sub if not self._frozen(v))
                frozen.extend(v for v in sub if self._frozen(v))
                continue
            pending = []
            for local, target in self.children[current]:
                if local in _NOT_WEIGHTS or local.startswith("layer-"):
                    continue
                if target in path or target == current:
                    raise ObjectGraphError(f"{self.where}: the object graph has a cycle: {what} (node {node}) "
                                           f"leads back to node {target} through {local!r}: refusing")
                if target in seen:
                    continue
                if len(path) + 1 > MAX_OBJECT_DEPTH:
                    raise ObjectGraphError(f"{self.where}: {what}'s objects nest deeper than {MAX_OBJECT_DEPTH} "
                                           "levels: refusing")
                seen.add(target)
                pending.append((target, path | {current}))
            stack.extend(reversed(pending))
        return out + frozen

    def _frozen(self, node: int) -> bool:
        key = self.variables[node]
        return key is not None and key[0].split("/.ATTRIBUTES/")[0].rsplit("/", 1)[-1] in _FROZEN_NAMES

    def checkpoint_key(self, node: int) -> str:
        key = self.variables[node]
        assert key is not None
        return key[0]

    def full_name(self, node: int) -> str:
        key = self.variables[node]
        assert key is not None
        return key[1]


def parse_object_graph(raw: bytes, where: str) -> ObjectGraph:
    """A ``TrackableObjectGraph`` message -> :class:`ObjectGraph` (node references checked)."""
    msg = parse(raw, _GRAPH, f"the object graph of {where}")
    nodes = msg["nodes"]
    if not nodes:
        raise ObjectGraphError(f"{where}: the checkpoint's object graph is empty")
    if len(nodes) > MAX_OBJECT_NODES:
        raise ObjectGraphError(f"{where}: the object graph has {len(nodes)} nodes, over {MAX_OBJECT_NODES}")
    children: list[list[tuple[str, int]]] = []
    variables: list[tuple[str, str] | None] = []
    for i, node in enumerate(nodes):
        refs = []
        for ref in node["children"]:
            target = int(ref.get("node_id", 0))
            if not 0 <= target < len(nodes):
                raise ObjectGraphError(f"{where}: object {i} refers to node {target}, but the graph has "
                                       f"{len(nodes)} nodes")
            refs.append((str(ref.get("local_name", "")), target))
        children.append(refs)
        value = next((a for a in node["attributes"] if a.get("name") == VARIABLE_VALUE), None)
        variables.append(None if value is None else (str(value.get("checkpoint_key", "")),
                                                     str(value.get("full_name", ""))))
    return ObjectGraph(children, variables, where)
