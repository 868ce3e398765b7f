"""Converters of the dropout and noise layers.

One small function per Keras class, for every Keras generation's config, built on
:mod:`keraslike_torch.porting.registry`'s shared option helpers.

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("Dropout", {"p": 0.25}, kt.converters.ConvertContext(keras_version=1)).rate
0.25
"""

from __future__ import annotations

from ...layers import Dropout, GaussianDropout, GaussianNoise, KerasLayer, SpatialDropout1D
from ..registry import ConvertContext, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import options as _options


@register("Dropout")
def _dropout(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Dropout", config, {"rate", "noise_shape"}, {"p": "rate"}, required=("rate",))
    return _build(
        "Dropout", config, Dropout, o["rate"], o.get("noise_shape"), **_common(config, ctx)
    )


@register("SpatialDropout1D")
def _spatial_dropout1d(config: dict, ctx: ConvertContext) -> KerasLayer:
    # tf-keras records noise_shape (inherited from Dropout) but SpatialDropout1D overrides it.
    o = _options("SpatialDropout1D", config, {"rate"}, {"p": "rate"}, {"noise_shape"}, required=("rate",))
    return _build("SpatialDropout1D", config, SpatialDropout1D, o["rate"], **_common(config, ctx))


@register("GaussianNoise")
def _gaussian_noise(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("GaussianNoise", config, {"stddev"}, {"sigma": "stddev"}, required=("stddev",))
    return _build("GaussianNoise", config, GaussianNoise, o["stddev"], **_common(config, ctx))


@register("GaussianDropout")
def _gaussian_dropout(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("GaussianDropout", config, {"rate"}, {"p": "rate"}, required=("rate",))
    return _build("GaussianDropout", config, GaussianDropout, o["rate"], **_common(config, ctx))

