"""Converters of the poolings (window and global, 1-D to 3-D), Keras 1 names included
(``pool_length``, ``stride``, ``border_mode``, ``dim_ordering``; Theano's ``"th"`` ordering is
refused).

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("MaxPooling1D", {"pool_length": 3, "border_mode": "same"}).padding
'same'
>>> kt.converters.convert_layer("MaxPooling2D", {"pool_size": [2, 3], "dim_ordering": "tf"}).pool_size
(2, 3)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...layers import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from ...layers._checks import int_tuple
from ..registry import ConvertContext, build, config_dtype, options, register, unsupported
from .convolutional import data_format, one_int, padding

_POOL_KEYS = {"pool_size", "strides", "padding", "data_format", "dim_ordering"}
_POOL_RENAMES = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}


def ints(config: dict, kind: str, key: str, value: Any, rank: int, allow_zero: bool = False) -> Any:
    """A size option of a ``rank``-D layer: one integer for rank 1 (a list holding one is
    accepted), else ``rank`` integers (one integer is repeated)."""
    if rank == 1 and not allow_zero:
        return one_int(config, kind, key, value)
    try:
        return int_tuple(f"{kind}: {key}", value, rank, allow_zero)
    except ValueError:
        what = "non-negative" if allow_zero else "positive"
        raise unsupported(config, kind, key, value, f"expected one or {rank} {what} integers") from None


def image_data_format(config: dict, kind: str, o: dict) -> str:
    """``data_format``, or Keras 1's ``dim_ordering`` (``"tf"``; Theano's ``"th"`` is refused)."""
    if "dim_ordering" in o and "data_format" not in o:
        order = o["dim_ordering"]
        if order != "tf":
            raise unsupported(
                config, kind, "dim_ordering", order,
                "only Keras 1's TensorFlow ordering 'tf' (channels last) is supported",
            )
    return data_format(config, kind, o.get("data_format"))


def _pooling(cls: Any, config: dict, ctx: ConvertContext) -> nn.Module:
    kind, rank = cls.keras_class, cls.rank
    o = options(kind, config, _POOL_KEYS, _POOL_RENAMES)
    strides = o.get("strides")
    return build(
        kind,
        config,
        cls,
        ints(config, kind, "pool_size", o.get("pool_size", 2), rank),
        None if strides is None else ints(config, kind, "strides", strides, rank),
        padding=padding(config, kind, o.get("padding", "valid"), ("valid", "same")),
        data_format=image_data_format(config, kind, o),
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )


@register("MaxPooling1D", "MaxPool1D")
def _max_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(MaxPooling1D, config, ctx)


@register("AveragePooling1D", "AvgPool1D")
def _average_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(AveragePooling1D, config, ctx)


def _global_pooling(cls: Any, config: dict, ctx: ConvertContext) -> nn.Module:
    kind = cls.keras_class
    o = options(kind, config, {"data_format", "keepdims", "dim_ordering"})
    return build(
        kind,
        config,
        cls,
        image_data_format(config, kind, o),
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


@register("MaxPooling2D", "MaxPool2D")
def _max_pooling2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(MaxPooling2D, config, ctx)


@register("AveragePooling2D", "AvgPool2D")
def _average_pooling2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(AveragePooling2D, config, ctx)


@register("MaxPooling3D", "MaxPool3D")
def _max_pooling3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(MaxPooling3D, config, ctx)


@register("AveragePooling3D", "AvgPool3D")
def _average_pooling3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(AveragePooling3D, config, ctx)


@register("GlobalMaxPooling2D", "GlobalMaxPool2D")
def _global_max_pooling2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _global_pooling(GlobalMaxPooling2D, config, ctx)


@register("GlobalAveragePooling2D", "GlobalAvgPool2D")
def _global_average_pooling2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _global_pooling(GlobalAveragePooling2D, config, ctx)


@register("GlobalMaxPooling3D", "GlobalMaxPool3D")
def _global_max_pooling3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _global_pooling(GlobalMaxPooling3D, config, ctx)


@register("GlobalAveragePooling3D", "GlobalAvgPool3D")
def _global_average_pooling3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _global_pooling(GlobalAveragePooling3D, config, ctx)
