"""Converters of the Keras recurrent layers (LSTM, GRU, SimpleRNN, their CuDNN and V1 variants,
Bidirectional, and the generic RNN with its cells LSTMCell, GRUCell, SimpleRNNCell and
StackedRNNCells): any Keras generation's config -> our constructor's keywords.

>>> from keraslike_torch.converters import convert_layer
>>> m = convert_layer("LSTM", {"output_dim": 3, "inner_activation": "hard_sigmoid"})  # Keras 1 names
>>> m.units, m.cell.recurrent_activation.name
(3, 'hard_sigmoid')
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from ...recurrent import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    GRUCell,
    LSTMCell,
    RecurrentCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
)
from ..registry import (
    ConvertContext,
    UnsupportedLayerError,
    build,
    common_kwargs,
    config_dtype,
    convert_layer,
    layer_label,
    options,
    register,
)

__all__: list[str] = []


# Constructor keywords that are ours, not Keras config keys (name and dtype come from common_kwargs).
_NOT_CONFIG_KEYS = {"input_size", "use_fused", "keras_version", "name", "device", "dtype"}


def _rnn_kwargs(config: dict, ctx: ConvertContext, cls: type[RNN]) -> dict[str, Any]:
    """Normalize an RNN config of any Keras generation to the keywords of ``cls`` (LSTM, GRU or
    SimpleRNN), whose signature says which config keys it honours."""
    kind = cls.__name__
    renames = {  # Keras 1 names
        "output_dim": "units", "init": "kernel_initializer", "inner_init": "recurrent_initializer",
        "inner_activation": "recurrent_activation", "dropout_W": "dropout",
        "dropout_U": "recurrent_dropout",
    }
    keys = set(inspect.signature(cls).parameters) - _NOT_CONFIG_KEYS
    other_kinds = {"unit_forget_bias", "reset_after", "recurrent_activation", "implementation"}
    rnn_only = {"input_dim", "consume_less", "use_cudnn", "forget_bias_init"}  # Keras 1 / backend choices
    kw = options(kind, config, keys, renames, other_kinds | rnn_only, required=("units",))
    forget_init = config.get("forget_bias_init")
    if kind == "LSTM" and forget_init is not None and "unit_forget_bias" not in kw:
        kw["unit_forget_bias"] = forget_init in ("one", "ones", "Ones")
    if kind == "GRU" and "reset_after" not in kw:
        # GRU configs from Keras < 2.1.3 have no reset_after key and mean reset_after=False.
        kw["reset_after"] = False if ctx.keras_version < 3 else True
    impl = kw.get("implementation")
    if impl is not None and impl not in (0, 1, 2):
        raise UnsupportedLayerError(f"{kind} layer {config.get('name', '?')!r}: implementation={impl!r}")
    for key in ("dropout", "recurrent_dropout"):
        if key in kw:
            kw[key] = min(1.0 - 1e-12, max(0.0, float(kw[key])))  # Keras clamps; 1.0 would drop all
    kw.update(common_kwargs(config, ctx))
    return kw


@register("LSTM", "LSTMV1", "UnifiedLSTM")
def _lstm(config: dict, ctx: ConvertContext) -> nn.Module:
    return LSTM(**_rnn_kwargs(config, ctx, LSTM))


@register("GRU", "GRUV1", "UnifiedGRU")
def _gru(config: dict, ctx: ConvertContext) -> nn.Module:
    return GRU(**_rnn_kwargs(config, ctx, GRU))


@register("SimpleRNN")
def _simple_rnn(config: dict, ctx: ConvertContext) -> nn.Module:
    return SimpleRNN(**_rnn_kwargs(config, ctx, SimpleRNN))


# CuDNN layers fix their math: tanh / sigmoid, and reset_after=True for GRU.
@register("CuDNNLSTM")
def _cudnn_lstm(config: dict, ctx: ConvertContext) -> nn.Module:
    c = {**config, "activation": "tanh", "recurrent_activation": "sigmoid"}
    return LSTM(**_rnn_kwargs(c, ctx, LSTM))


@register("CuDNNGRU")
def _cudnn_gru(config: dict, ctx: ConvertContext) -> nn.Module:
    c = {**config, "activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True}
    return GRU(**_rnn_kwargs(c, ctx, GRU))


@register("Bidirectional")
def _bidirectional(config: dict, ctx: ConvertContext) -> nn.Module:
    inner = config.get("layer")
    if not isinstance(inner, dict) or "class_name" not in inner:
        raise UnsupportedLayerError(f"Bidirectional layer {config.get('name', '?')!r} has no wrapped layer config")
    layer = _nested(inner, ctx)
    backward = config.get("backward_layer")
    backward_layer = _nested(backward, ctx) if isinstance(backward, dict) else None
    return Bidirectional(layer, config.get("merge_mode", "concat"), backward_layer,  # type: ignore[arg-type]
                         name=config.get("name"))


def _nested(spec: dict, ctx: ConvertContext) -> RNN:
    module = convert_layer(spec["class_name"], spec.get("config", {}), ctx)
    if not isinstance(module, RNN):
        raise UnsupportedLayerError(
            f"Bidirectional can wrap LSTM, GRU, SimpleRNN and RNN layers, not {spec['class_name']!r}"
        )
    return module


# ---- the generic RNN and its cells ----------------------------------------------------------------

_CELLS: dict[str, type[RecurrentCell]] = {"LSTMCell": LSTMCell, "GRUCell": GRUCell, "SimpleRNNCell": SimpleRNNCell}
_RNN_KEYS = {"cell", "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "time_major",
             "zero_output_for_mask"}


def _cell(kind: str, config: dict, ctx: ConvertContext) -> nn.Module:
    cls = _CELLS[kind]
    keys = ({p.name for p in cls.keyword_parameters()} - _NOT_CONFIG_KEYS) | {"units"}
    # implementation: the RNN layer's choice (read there); it changes no number outside training
    ignored = {"implementation"} if kind != "SimpleRNNCell" else set()
    kw = options(kind, config, keys, ignored=ignored, required=("units",))
    if kind == "GRUCell" and "reset_after" not in kw:
        kw["reset_after"] = ctx.keras_version >= 3  # as for GRU: absent before Keras 2.1.3 means False
    for key in ("dropout", "recurrent_dropout"):
        if key in kw:
            kw[key] = min(1.0 - 1e-12, max(0.0, float(kw[key])))  # Keras clamps; 1.0 would drop all
    units = kw.pop("units")
    return build(kind, config, cls, units, keras_version=ctx.keras_version, dtype=config_dtype(config, ctx), **kw)


@register("LSTMCell")
def _lstm_cell(config: dict, ctx: ConvertContext) -> nn.Module:
    return _cell("LSTMCell", config, ctx)


@register("GRUCell")
def _gru_cell(config: dict, ctx: ConvertContext) -> nn.Module:
    return _cell("GRUCell", config, ctx)


@register("SimpleRNNCell")
def _simple_rnn_cell(config: dict, ctx: ConvertContext) -> nn.Module:
    return _cell("SimpleRNNCell", config, ctx)


def _nested_cell(spec: Any, ctx: ConvertContext, owner: str) -> RecurrentCell | StackedRNNCells:
    """A cell config nested in an RNN or StackedRNNCells config (``owner`` names that layer)."""
    if isinstance(spec, list):  # a list of cells means a stack (Keras wraps it on construction)
        return StackedRNNCells([_nested_cell(s, ctx, owner) for s in spec])  # type: ignore[misc]
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise UnsupportedLayerError(f"{owner}: its cell config has no class_name")
    kind, config = spec["class_name"], spec.get("config", {})
    registered = spec.get("registered_name")
    custom = any(k in ctx.custom_objects for k in (kind, registered, config.get("name") if isinstance(config, dict)
                                                   else None) if isinstance(k, str))
    if kind not in _CELLS and kind != "StackedRNNCells" and not custom:
        raise UnsupportedLayerError(
            f"{owner}: cell class {registered or kind!r} is not supported (a custom cell's code is not in "
            f"the file); supported cells: {', '.join([*_CELLS, 'StackedRNNCells'])}"
        )
    module = convert_layer(kind, config if isinstance(config, dict) else {}, ctx, registered)
    if not isinstance(module, (RecurrentCell, StackedRNNCells)):
        raise UnsupportedLayerError(
            f"{owner}: cell {kind!r} became a {type(module).__name__}, not a keraslike_torch cell"
        )
    return module


@register("StackedRNNCells")
def _stacked(config: dict, ctx: ConvertContext) -> nn.Module:
    kw = options("StackedRNNCells", config, {"cells"}, required=("cells",))
    label = layer_label("StackedRNNCells", config)
    if not isinstance(kw["cells"], list):
        raise UnsupportedLayerError(f"{label}: cells must be a list of cell configs")
    return build("StackedRNNCells", config, StackedRNNCells, [_nested_cell(c, ctx, label) for c in kw["cells"]])


@register("RNN")
def _generic_rnn(config: dict, ctx: ConvertContext) -> nn.Module:
    kw = options("RNN", config, _RNN_KEYS, required=("cell",))
    spec = kw.pop("cell")
    cell = _nested_cell(spec, ctx, layer_label("RNN", config))
    inner = spec.get("config") if isinstance(spec, dict) else None
    if isinstance(cell, RecurrentCell) and isinstance(inner, dict) and inner.get("implementation") in (1, 2):
        kw["implementation"] = inner["implementation"]  # tf-keras keeps it on the cell
    return build("RNN", config, RNN, cell, name=config.get("name"), **kw)
