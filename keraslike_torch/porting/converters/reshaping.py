"""Converters of the reshaping layers.

One small function per Keras class, for every Keras generation's config, built on
:mod:`keraslike_torch.porting.registry`'s shared option helpers.

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("Reshape", {"target_shape": [2, -1]}).target_shape
(2, -1)
>>> kt.converters.convert_layer("ZeroPadding2D", {"padding": [[1, 0], [2, 2]]}).padding
((1, 0), (2, 2))
"""

from __future__ import annotations

from typing import Any

from ...layers import (
    Cropping1D,
    Cropping2D,
    Flatten,
    KerasLayer,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from ..registry import ConvertContext, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import options as _options
from ..registry import unsupported as _unsupported
from .convolutional import data_format as _data_format
from .pooling import image_data_format as _image_data_format
from .pooling import ints as _ints


@register("RepeatVector")
def _repeat_vector(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("RepeatVector", config, {"n"}, required=("n",))
    return _build("RepeatVector", config, RepeatVector, o["n"], **_common(config, ctx))


@register("Flatten")
def _flatten(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Flatten", config, {"data_format"})
    return _build("Flatten", config, Flatten, o.get("data_format"), **_common(config, ctx))


@register("Reshape")
def _reshape(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Reshape", config, {"target_shape"}, required=("target_shape",))
    return _build("Reshape", config, Reshape, o["target_shape"], **_common(config, ctx))


@register("Permute")
def _permute(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Permute", config, {"dims"}, required=("dims",))
    return _build("Permute", config, Permute, o["dims"], **_common(config, ctx))


# ---- spatial: UpSampling, ZeroPadding, Cropping (Keras 1: length, dim_ordering, 4-int padding) --

_KERAS1_SIDES = {1: ("left_pad", "right_pad"), 2: ("top_pad", "bottom_pad", "left_pad", "right_pad")}


def _sides(config: dict, kind: str, key: str, value: Any, rank: int) -> Any:
    """Padding or cropping as the layer takes it: Keras 1's ``{"top_pad": ..}`` dict and 2-D
    ``(top, bottom, left, right)`` become pairs; each entry is checked to be an integer >= 0."""
    if isinstance(value, dict):
        names = _KERAS1_SIDES[rank]
        if set(value) - set(names):
            raise _unsupported(config, kind, key, value, f"expected the keys {list(names)}")
        value = [value.get(n, 0) for n in names]
        value = value if rank == 1 else [value[:2], value[2:]]
    elif rank == 2 and isinstance(value, (list, tuple)) and len(value) == 4:
        value = [list(value[:2]), list(value[2:])]
    if isinstance(value, (list, tuple)) and rank == 2:
        if len(value) != 2:
            raise _unsupported(config, kind, key, value, "expected one integer or 2 entries")
        return tuple(_ints(config, kind, key, v, 2, allow_zero=True) for v in value)
    return _ints(config, kind, key, value, 2 if rank == 1 else rank, allow_zero=True)


@register("UpSampling1D")
def _up_sampling1d(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("UpSampling1D", config, {"size"}, {"length": "size"})
    size = _ints(config, "UpSampling1D", "size", o.get("size", 2), 1)
    return _build("UpSampling1D", config, UpSampling1D, size, **_common(config, ctx))


@register("UpSampling2D")
def _up_sampling2d(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "UpSampling2D"
    o = _options(kind, config, {"size", "data_format", "interpolation", "dim_ordering"})
    interpolation = str(o.get("interpolation", "nearest")).lower()
    if interpolation not in ("nearest", "bilinear"):
        raise _unsupported(
            config, kind, "interpolation", o["interpolation"],
            "only 'nearest' and 'bilinear' are reproduced exactly",
        )
    return _build(
        kind, config, UpSampling2D, _ints(config, kind, "size", o.get("size", 2), 2),
        _image_data_format(config, kind, o), interpolation, **_common(config, ctx),
    )


@register("ZeroPadding1D")
def _zero_padding1d(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "ZeroPadding1D"
    o = _options(kind, config, {"padding", "data_format"})
    return _build(
        kind, config, ZeroPadding1D, _sides(config, kind, "padding", o.get("padding", 1), 1),
        _data_format(config, kind, o.get("data_format")), **_common(config, ctx),
    )


@register("ZeroPadding2D")
def _zero_padding2d(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "ZeroPadding2D"
    o = _options(kind, config, {"padding", "data_format", "dim_ordering"})
    return _build(
        kind, config, ZeroPadding2D, _sides(config, kind, "padding", o.get("padding", 1), 2),
        _image_data_format(config, kind, o), **_common(config, ctx),
    )


@register("Cropping1D")
def _cropping1d(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "Cropping1D"
    o = _options(kind, config, {"cropping"})
    cropping = _sides(config, kind, "cropping", o.get("cropping", 1), 1)
    return _build(kind, config, Cropping1D, cropping, **_common(config, ctx))


@register("Cropping2D")
def _cropping2d(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "Cropping2D"
    o = _options(kind, config, {"cropping", "data_format", "dim_ordering"})
    return _build(
        kind, config, Cropping2D, _sides(config, kind, "cropping", o.get("cropping", 0), 2),
        _image_data_format(config, kind, o), **_common(config, ctx),
    )
