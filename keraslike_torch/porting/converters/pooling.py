"""Converters of the 1-D poolings (window and global), Keras 1 names included.

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("MaxPooling1D", {"pool_length": 3, "border_mode": "same"}).padding
'same'
"""

from __future__ import annotations

from torch import nn

from ...layers import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from ..registry import ConvertContext, build, config_dtype, options, register
from .convolutional import data_format, one_int, padding

_POOL_KEYS = {"pool_size", "strides", "padding", "data_format"}
_POOL_RENAMES = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}


def _pooling(cls: type[MaxPooling1D | AveragePooling1D], config: dict, ctx: ConvertContext) -> nn.Module:
    kind = cls.keras_class
    o = options(kind, config, _POOL_KEYS, _POOL_RENAMES)
    strides = o.get("strides")
    return build(
        kind,
        config,
        cls,
        one_int(config, kind, "pool_size", o.get("pool_size", 2)),
        None if strides is None else one_int(config, kind, "strides", strides),
        padding=padding(config, kind, o.get("padding", "valid"), ("valid", "same")),
        data_format=data_format(config, kind, o.get("data_format")),
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )


@register("MaxPooling1D", "MaxPool1D")
def _max_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(MaxPooling1D, config, ctx)


@register("AveragePooling1D", "AvgPool1D")
def _average_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(AveragePooling1D, config, ctx)


def _global_pooling(
    cls: type[GlobalMaxPooling1D | GlobalAveragePooling1D], config: dict, ctx: ConvertContext
) -> nn.Module:
    kind = cls.keras_class
    o = options(kind, config, {"data_format", "keepdims"})
    return build(
        kind,
        config,
        cls,
        data_format(config, kind, o.get("data_format")),
        bool(o.get("keepdims", False)),
        name=config.get("name"),
        keras_version=ctx.keras_version,
        dtype=config_dtype(config, ctx),
    )


@register("GlobalMaxPooling1D", "GlobalMaxPool1D")
def _global_max_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _global_pooling(GlobalMaxPooling1D, config, ctx)


@register("GlobalAveragePooling1D", "GlobalAvgPool1D")
def _global_average_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _global_pooling(GlobalAveragePooling1D, config, ctx)
