"""Converters of the convolutions: ``Conv1D`` / ``Conv2D`` / ``Conv3D`` (Keras 1's
``Convolution1D/2D/3D`` and ``AtrousConvolution1D/2D`` included), ``DepthwiseConv1D/2D``,
``SeparableConv1D/2D`` and ``Conv1D/2D/3DTranspose``; and the option checks they share with
the poolings (padding, data_format, sizes).

>>> import keraslike_torch as kt
>>> conv = kt.converters.convert_layer("Convolution1D", {"nb_filter": 4, "filter_length": 3})
>>> conv.filters, conv.kernel_size
(4, 3)
>>> kt.converters.convert_layer("Conv2D", {"filters": 2, "kernel_size": [3, 1]}).kernel_size
(3, 1)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...layers import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from ...layers._checks import positive_int
from ...layers.convolutional import ConvBase
from ..registry import ConvertContext, build, common_kwargs, options, register
from ..registry import unsupported as _unsupported


def padding(config: dict, kind: str, value: Any, allowed: tuple[str, ...]) -> str:
    """The ``padding`` option, lower-cased, if it is one of ``allowed``."""
    p = str(value).lower()
    if p not in allowed:
        raise _unsupported(config, kind, "padding", value, "expected one of " + ", ".join(allowed))
    return p


def data_format(config: dict, kind: str, value: Any) -> str:
    """The ``data_format`` option (None: ``"channels_last"``)."""
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise _unsupported(config, kind, "data_format", value)
    return fmt


def sizes(config: dict, kind: str, key: str, value: Any, rank: int, allow_zero: bool = False) -> Any:
    """A size option of a layer with ``rank`` spatial axes: one int for rank 1 (a list holding
    one is accepted), else a tuple of ``rank`` ints (one int is repeated, as in Keras)."""
    try:
        if rank == 1:
            return positive_int(f"{kind}: {key}", value, allow_zero, single=True)
        items = list(value) if isinstance(value, (list, tuple)) else [value] * rank
        if len(items) != rank:
            raise ValueError(key)
        return tuple(positive_int(f"{kind}: {key}", v, allow_zero) for v in items)
    except ValueError:
        what = "one non-negative integer" if allow_zero else "one positive integer"
        raise _unsupported(config, kind, key, value, f"expected {what}" + (f" or {rank}" if rank > 1 else "")) from None


def one_int(config: dict, kind: str, key: str, value: Any) -> int:
    """A size option of a 1-D layer: one positive integer (or a list holding one)."""
    return sizes(config, kind, key, value, 1)  # type: ignore[no-any-return]


_SHARED = {"kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
           "use_bias", "bias_initializer"}
_CONV_KEYS = _SHARED | {"filters", "groups", "kernel_initializer", "lora_rank", "lora_alpha"}
_KERAS1_RENAMES = {
    "nb_filter": "filters",
    "filter_length": "kernel_size",
    "border_mode": "padding",
    "subsample_length": "strides",
    "subsample": "strides",
    "init": "kernel_initializer",
    "bias": "use_bias",
    "atrous_rate": "dilation_rate",
}
_KERAS1_KERNELS = {2: ("nb_row", "nb_col"), 3: ("kernel_dim1", "kernel_dim2", "kernel_dim3")}


def _keras1(config: dict, kind: str, rank: int) -> dict:
    """A Keras 1 ``Convolution2D/3D`` config's kernel keys as ``kernel_size``; its ``dim_ordering``
    must be TensorFlow's ('tf': channels last; 'th' kernels are in Theano's flipped order)."""
    c = dict(config)
    keys = _KERAS1_KERNELS.get(rank, ())
    if keys and keys[0] in c:
        c["kernel_size"] = tuple(c.pop(k, None) for k in keys)
    if "dim_ordering" in c:
        order = c.pop("dim_ordering")
        if order != "tf":
            raise _unsupported(config, kind, "dim_ordering", order,
                               "only Keras 1's 'tf' (channels last) ordering is converted")
    return c


def _common(config: dict, kind: str, rank: int, o: dict, paddings: tuple[str, ...]) -> dict[str, Any]:
    return {
        "strides": sizes(config, kind, "strides", o.get("strides", 1), rank),
        "dilation_rate": sizes(config, kind, "dilation_rate", o.get("dilation_rate", 1), rank),
        "padding": padding(config, kind, o.get("padding", "valid"), paddings),
        "data_format": data_format(config, kind, o.get("data_format")),
        "activation": o.get("activation"),
        "use_bias": o.get("use_bias", True),
        "bias_initializer": o.get("bias_initializer", "zeros"),
    }


def _no_groups(config: dict, kind: str, o: dict) -> None:
    if (o.get("groups") or 1) != 1:  # tf-keras writes groups=1 into these configs
        raise _unsupported(config, kind, "groups", o["groups"], f"{kind} has no groups")


def _conv(cls: type[ConvBase], config: dict, ctx: ConvertContext) -> nn.Module:
    kind, rank = cls.keras_class, cls.rank
    o = options(kind, _keras1(config, kind, rank), _CONV_KEYS, _KERAS1_RENAMES,
                required=("filters", "kernel_size"))
    if o.get("lora_rank"):
        raise _unsupported(config, kind, "lora_rank", o["lora_rank"], "LoRA adds weights")
    return build(
        kind, config, cls,
        one_int(config, kind, "filters", o["filters"]),
        sizes(config, kind, "kernel_size", o["kernel_size"], rank),
        groups=one_int(config, kind, "groups", o.get("groups") or 1),
        kernel_initializer=o.get("kernel_initializer", "glorot_uniform"),
        **_common(config, kind, rank, o, cls.paddings),
        **common_kwargs(config, ctx),
    )


@register("Conv1D", "Convolution1D", "AtrousConvolution1D", "AtrousConv1D")
def _conv1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _conv(Conv1D, config, ctx)


@register("Conv2D", "Convolution2D", "AtrousConvolution2D")
def _conv2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _conv(Conv2D, config, ctx)


@register("Conv3D", "Convolution3D")
def _conv3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _conv(Conv3D, config, ctx)


# ---- depthwise and separable --------------------------------------------------------------------

_DEPTHWISE_KEYS = _SHARED | {"depth_multiplier", "depthwise_initializer", "groups"}
# tf-keras writes SeparableConv's unused kernel_initializer (its Conv base class's) too
_SEPARABLE_KEYS = _DEPTHWISE_KEYS | {"filters", "pointwise_initializer"}


def _depthwise(cls: type[ConvBase], config: dict, ctx: ConvertContext) -> nn.Module:
    kind, rank = cls.keras_class, cls.rank
    o = options(kind, config, _DEPTHWISE_KEYS, required=("kernel_size",))
    _no_groups(config, kind, o)
    return build(
        kind, config, cls,
        sizes(config, kind, "kernel_size", o["kernel_size"], rank),
        depth_multiplier=one_int(config, kind, "depth_multiplier", o.get("depth_multiplier", 1)),
        depthwise_initializer=o.get("depthwise_initializer", "glorot_uniform"),
        **_common(config, kind, rank, o, cls.paddings),
        **common_kwargs(config, ctx),
    )


@register("DepthwiseConv1D")
def _depthwise1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _depthwise(DepthwiseConv1D, config, ctx)


@register("DepthwiseConv2D")
def _depthwise2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _depthwise(DepthwiseConv2D, config, ctx)


def _separable(cls: type[ConvBase], config: dict, ctx: ConvertContext) -> nn.Module:
    kind, rank = cls.keras_class, cls.rank
    o = options(kind, config, _SEPARABLE_KEYS, ignored={"kernel_initializer"},
                required=("filters", "kernel_size"))
    _no_groups(config, kind, o)
    return build(
        kind, config, cls,
        one_int(config, kind, "filters", o["filters"]),
        sizes(config, kind, "kernel_size", o["kernel_size"], rank),
        depth_multiplier=one_int(config, kind, "depth_multiplier", o.get("depth_multiplier", 1)),
        depthwise_initializer=o.get("depthwise_initializer", "glorot_uniform"),
        pointwise_initializer=o.get("pointwise_initializer", "glorot_uniform"),
        **_common(config, kind, rank, o, cls.paddings),
        **common_kwargs(config, ctx),
    )


@register("SeparableConv1D", "SeparableConvolution1D")
def _separable1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _separable(SeparableConv1D, config, ctx)


@register("SeparableConv2D", "SeparableConvolution2D")
def _separable2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _separable(SeparableConv2D, config, ctx)


# ---- transposed -----------------------------------------------------------------------------------

_TRANSPOSE_KEYS = _SHARED | {"filters", "output_padding", "kernel_initializer", "groups"}


def _transpose(cls: type[ConvBase], config: dict, ctx: ConvertContext) -> nn.Module:
    kind, rank = cls.keras_class, cls.rank
    o = options(kind, config, _TRANSPOSE_KEYS, required=("filters", "kernel_size"))
    _no_groups(config, kind, o)
    out_pad = o.get("output_padding")
    return build(
        kind, config, cls,
        one_int(config, kind, "filters", o["filters"]),
        sizes(config, kind, "kernel_size", o["kernel_size"], rank),
        output_padding=None if out_pad is None else sizes(config, kind, "output_padding", out_pad, rank, True),
        kernel_initializer=o.get("kernel_initializer", "glorot_uniform"),
        **_common(config, kind, rank, o, cls.paddings),
        **common_kwargs(config, ctx),
    )


@register("Conv1DTranspose", "Convolution1DTranspose")
def _transpose1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _transpose(Conv1DTranspose, config, ctx)


@register("Conv2DTranspose", "Convolution2DTranspose")
def _transpose2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _transpose(Conv2DTranspose, config, ctx)


@register("Conv3DTranspose", "Convolution3DTranspose")
def _transpose3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _transpose(Conv3DTranspose, config, ctx)
