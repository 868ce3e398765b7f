"""Converter of ``Conv1D`` (``Convolution1D`` and Keras 1's ``AtrousConvolution1D``), and the
option checks it shares with the poolings (padding, data_format, one positive integer).

>>> import keraslike_torch as kt
>>> conv = kt.converters.convert_layer("Convolution1D", {"nb_filter": 4, "filter_length": 3})
>>> conv.filters, conv.kernel_size
(4, 3)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...layers import Conv1D
from ...layers._checks import positive_int
from ..registry import ConvertContext, UnsupportedLayerError, build, common_kwargs, layer_label, options, register
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


def one_int(config: dict, kind: str, key: str, value: Any) -> int:
    """A size option of a 1-D layer: one positive integer (or a list holding one)."""
    try:
        return positive_int(f"{kind}: {key}", value, single=True)
    except ValueError:
        raise _unsupported(config, kind, key, value, "expected one positive integer") from None


_CONV_KEYS = {
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
    "activation", "use_bias", "kernel_initializer", "bias_initializer", "lora_rank", "lora_alpha",
}
_CONV_RENAMES = {  # Keras 1
    "nb_filter": "filters",
    "filter_length": "kernel_size",
    "border_mode": "padding",
    "subsample_length": "strides",
    "init": "kernel_initializer",
    "bias": "use_bias",
    "atrous_rate": "dilation_rate",
}


@register("Conv1D", "Convolution1D", "AtrousConvolution1D", "AtrousConv1D")
def _conv1d(config: dict, ctx: ConvertContext) -> nn.Module:
    kind = "Conv1D"
    o = options(kind, config, _CONV_KEYS, _CONV_RENAMES)
    if o.get("lora_rank"):
        raise _unsupported(config, kind, "lora_rank", o["lora_rank"], "LoRA adds weights")
    for key in ("filters", "kernel_size"):
        if key not in o:
            raise UnsupportedLayerError(f"{layer_label(kind, config)} has no {key!r}")
    return build(
        kind,
        config,
        Conv1D,
        one_int(config, kind, "filters", o["filters"]),
        one_int(config, kind, "kernel_size", o["kernel_size"]),
        strides=one_int(config, kind, "strides", o.get("strides", 1)),
        dilation_rate=one_int(config, kind, "dilation_rate", o.get("dilation_rate", 1)),
        groups=one_int(config, kind, "groups", o.get("groups") or 1),
        padding=padding(config, kind, o.get("padding", "valid"), ("valid", "same", "causal")),
        data_format=data_format(config, kind, o.get("data_format")),
        activation=o.get("activation"),
        use_bias=o.get("use_bias", True),
        kernel_initializer=o.get("kernel_initializer", "glorot_uniform"),
        bias_initializer=o.get("bias_initializer", "zeros"),
        **common_kwargs(config, ctx),
    )
