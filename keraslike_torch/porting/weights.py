"""Weights files -> a built model: one weight plan per file generation, assigned atomically.

A plan is a list of (layer, its arrays in Keras ``get_weights()`` order): legacy HDF5 files
(Keras 1/2, tf.keras, Keras 3's legacy writer) by layer order or name, Keras 3 ``.weights.h5``
and ``.keras`` by the group paths Keras 3 writes or by the layer names it records. Entry points:
:func:`load_weights`, :func:`read_weights`.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
from torch import nn

from ..layers import KerasOp
from ..recurrent import RNN, Bidirectional, StackedRNNCells
from .formats import Keras3Weights, KerasFile, KerasFileError, LegacyWeights, open_keras_file
from .graph import KerasModel, assign_atomically, has_weights
from .layouts import to_keras_layout
from .tf_formats import refuse_by_name

__all__ = ["load_weights", "read_weights", "plan_from_file"]


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
    targets = [(n, m) for n, m in model.keras_layers() if has_weights(m)]
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
    if isinstance(module, RNN) and isinstance(module.cell, StackedRNNCells):
        return _keras3_stack(store, path, module) + store.vars(path)
    if isinstance(module, RNN):
        return store.vars(f"{path}/cell") + store.vars(path)
    inner = getattr(module, "layer", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "TimeDistributed":
        return _keras3_arrays(store, f"{path}/layer", inner)
    groups = getattr(module, "keras3_weight_groups", None)  # MultiHeadAttention's EinsumDense sublayers
    if groups:
        return [a for g in groups for a in store.vars(f"{path}/{g}")]
    return store.vars(path)


def _keras3_stack(store: Keras3Weights, path: str, module: RNN) -> list[np.ndarray]:
    """A StackedRNNCells' arrays: Keras 3 keeps each cell under ``cell/cells/<class in snake_case>``,
    counted per class as layers are (``lstm_cell``, ``lstm_cell_1``, ``gru_cell``), in cell order."""
    used: dict[str, int] = {}
    arrays: list[np.ndarray] = []
    for k, cell in enumerate(module.cell.members):  # type: ignore[union-attr]
        name = _snake(type(cell).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        sub = f"{path}/cell/cells/{name}"
        if not store.has(sub) and store.has(f"{path}/cell/cells/{k}"):
            sub = f"{path}/cell/cells/{k}"
        if not store.has(sub):
            raise KerasFileError(
                f"the weights file has no group {sub!r} for cell {k} of layer {module.name!r} (StackedRNNCells)"
            )
        arrays += store.vars(sub)
    return arrays


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
        if not has_weights(module):
            continue
        if not store.has(sub):
            raise KerasFileError(f"the weights file has no group {sub!r} for layer {module.name!r}")
        arrays = _keras3_arrays(store, sub, module)
        plan.append((module, to_keras_layout(module, arrays, 3, f"layer {module.name!r}")))
    return plan


def _keras_class_of(module: nn.Module) -> str:
    if type(module) is RNN:  # the generic layer; its cell's class names the families' groups
        return "RNN"
    return getattr(module, "keras_class", None) or getattr(getattr(module, "cell", None), "keras_class", None) \
        or type(module).__name__


def load_weights(module: nn.Module, path: str | os.PathLike, by_name: bool = False,
                 max_bytes: int | None = None) -> nn.Module:
    """Load a weights file (legacy weights-only or full-model ``.h5``, Keras 3 ``.weights.h5`` or
    ``.keras``) into a module built from the same architecture, by layer order as Keras does or by
    layer name. Atomic: on any error the module keeps its weights. ``max_bytes`` caps what a zip
    member may inflate to (default :data:`keraslike_torch.porting.guards.DEFAULT_MAX_BYTES`)."""
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
        assign_atomically([(module, to_keras_layout(module, chosen, 2, repr(name)))])
        return module
    with open_keras_file(path, max_bytes) as kf:
        plan = plan_from_file(module, kf, by_name)
        assign_atomically(plan)
    return module


def plan_from_file(model: KerasModel, kf: KerasFile, by_name: bool) -> list[tuple[nn.Module, list[np.ndarray]]]:
    refuse_by_name(kf, by_name)
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
            elif keras_name in found and has_weights(module):
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
    order += [c for c in ("query_dense", "key_dense", "value_dense", "output_dense") if c in children]  # MHA
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
    :func:`keraslike_torch.porting.layouts.to_keras_layout` (which converts CuDNN and Keras 1 layouts).
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
