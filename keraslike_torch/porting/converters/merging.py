"""Converters of the merge layers, and of Keras 1's ``Merge``.

One small function per Keras class, for every Keras generation's config, built on
:mod:`keraslike_torch.porting.registry`'s shared option helpers.

>>> import keraslike_torch as kt
>>> type(kt.converters.convert_layer("Merge", {"mode": "sum"})).__name__
'Add'
"""

from __future__ import annotations

from ...layers import Add, Average, Concatenate, Dot, KerasLayer, Maximum, Minimum, Multiply, Subtract
from ..registry import ConvertContext, UnsupportedLayerError, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import layer_label as _layer_label
from ..registry import options as _options


@register("Concatenate")
def _concatenate(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Concatenate", config, {"axis"})
    return _build("Concatenate", config, Concatenate, **o, **_common(config, ctx))


@register("Dot")
def _dot(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Dot", config, {"axes", "normalize"}, required=("axes",))
    return _build("Dot", config, Dot, **o, **_common(config, ctx))


def _merge(kind: str, cls: type[KerasLayer], config: dict, ctx: ConvertContext) -> KerasLayer:
    """The elementwise merges: no options beyond the common ones."""
    _options(kind, config, set())
    return _build(kind, config, cls, **_common(config, ctx))


@register("Add")
def _add(config: dict, ctx: ConvertContext) -> KerasLayer:
    return _merge("Add", Add, config, ctx)


@register("Subtract")
def _subtract(config: dict, ctx: ConvertContext) -> KerasLayer:
    return _merge("Subtract", Subtract, config, ctx)


@register("Multiply")
def _multiply(config: dict, ctx: ConvertContext) -> KerasLayer:
    return _merge("Multiply", Multiply, config, ctx)


@register("Average")
def _average(config: dict, ctx: ConvertContext) -> KerasLayer:
    return _merge("Average", Average, config, ctx)


@register("Maximum")
def _maximum(config: dict, ctx: ConvertContext) -> KerasLayer:
    return _merge("Maximum", Maximum, config, ctx)


@register("Minimum")
def _minimum(config: dict, ctx: ConvertContext) -> KerasLayer:
    return _merge("Minimum", Minimum, config, ctx)


# Keras 1 ``Merge``: the modes that are one of today's merge layers.
_MERGE_MODES: dict[str, type[KerasLayer]] = {
    "sum": Add,
    "mul": Multiply,
    "ave": Average,
    "max": Maximum,
}


@register("Merge")
def _keras1_merge(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "Merge"
    o = _options(
        kind,
        config,
        {
            "mode",
            "concat_axis",
            "dot_axes",
            "mode_type",
            "output_shape",
            "output_shape_type",
            "output_mask",
            "output_mask_type",
            "arguments",
            "layers",
        },
    )
    mode = o.get("mode", "sum")
    if o.get("layers"):
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: a Sequential Merge of branch models is not supported"
        )
    if o.get("mode_type", "raw") != "raw" or not isinstance(mode, str):
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: unsupported option mode={mode!r} (a function)"
        )
    if o.get("output_mask") is not None:
        raise UnsupportedLayerError(f"{_layer_label(kind, config)}: unsupported option output_mask")
    common = {**_common(config, ctx), "keras_version": min(ctx.keras_version, 2)}
    if mode == "concat":
        return _build(kind, config, Concatenate, o.get("concat_axis", -1), **common)
    if mode not in _MERGE_MODES:
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: unsupported option mode={mode!r} "
            f"(supported: {', '.join(sorted([*_MERGE_MODES, 'concat']))})"
        )
    return _build(kind, config, _MERGE_MODES[mode], **common)

