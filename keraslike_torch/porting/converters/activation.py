"""Converters of the activation layers: Softmax, ReLU, LeakyReLU, PReLU, ELU.

One small function per Keras class, for every Keras generation's config (Keras 1/2 and tf-keras
call LeakyReLU's slope ``alpha``; Keras 1 calls PReLU's initializer ``init``).

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("LeakyReLU", {"alpha": 0.1}).negative_slope
0.1
"""

from __future__ import annotations

from ...layers import ELU, KerasLayer, LeakyReLU, PReLU, ReLU, Softmax
from ..registry import ConvertContext, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import options as _options


@register("Softmax")
def _softmax(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Softmax", config, {"axis", "robust_masking"})
    return _build("Softmax", config, Softmax, **o, **_common(config, ctx))


@register("ReLU")
def _relu(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("ReLU", config, {"max_value", "negative_slope", "threshold"})
    return _build("ReLU", config, ReLU, **o, **_common(config, ctx))


@register("LeakyReLU")
def _leaky_relu(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("LeakyReLU", config, {"negative_slope"}, {"alpha": "negative_slope"})
    return _build("LeakyReLU", config, LeakyReLU, **o, **_common(config, ctx))


@register("ELU")
def _elu(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("ELU", config, {"alpha"})
    return _build("ELU", config, ELU, **o, **_common(config, ctx))


@register("PReLU")
def _prelu(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("PReLU", config, {"alpha_initializer", "shared_axes"}, {"init": "alpha_initializer"})
    return _build("PReLU", config, PReLU, **o, **_common(config, ctx))
