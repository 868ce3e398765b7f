"""Converters of the reshaping layers.

One small function per Keras class, for every Keras generation's config, built on
:mod:`keraslike_torch.porting.registry`'s shared option helpers.

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("Reshape", {"target_shape": [2, -1]}).target_shape
(2, -1)
"""

from __future__ import annotations

from ...layers import Flatten, KerasLayer, Permute, RepeatVector, Reshape
from ..registry import ConvertContext, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import options as _options


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
