"""Converters of ``ConvLSTM1D`` / ``ConvLSTM2D`` / ``ConvLSTM3D`` (Keras 3 and tf-keras / Keras 2
configs; both write the same keys, tf-keras adds ``time_major``). Keras 1's ConvLSTM2D
(``nb_filter``, ``nb_row``, ``dim_ordering``) has another weight layout and is refused by name.

>>> from keraslike_torch.converters import convert_layer
>>> m = convert_layer("ConvLSTM2D", {"filters": 4, "kernel_size": [3, 3], "padding": "same"})
>>> type(m).__name__, m.filters, m.kernel_size, m.padding
('ConvLSTM2D', 4, (3, 3), 'same')
"""

from __future__ import annotations

from torch import nn

from ...recurrent import ConvLSTM, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from ..registry import ConvertContext, build, common_kwargs, options, register, unsupported
from .convolutional import data_format, padding

__all__: list[str] = []

_KEYS = frozenset({
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
    "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "unit_forget_bias", "dropout", "recurrent_dropout", "return_sequences", "return_state", "go_backwards",
    "stateful", "zero_output_for_mask", "unroll", "time_major",
})
_KERAS1 = ("nb_filter", "nb_row", "nb_col", "dim_ordering", "border_mode", "subsample")


def _convert(kind: str, cls: type[ConvLSTM], config: dict, ctx: ConvertContext) -> nn.Module:
    for key in _KERAS1:
        if key in config:
            raise unsupported(config, kind, key, config[key], "Keras 1 ConvLSTM configs and weights are not supported")
    o = options(kind, config, _KEYS, required=("filters", "kernel_size"))
    if o.pop("time_major", False):
        raise unsupported(config, kind, "time_major", True, "Keras's ConvLSTM layers are batch-major")
    for key in ("dropout", "recurrent_dropout"):
        if key in o:
            o[key] = min(1.0 - 1e-12, max(0.0, float(o[key])))  # Keras clamps; 1.0 would drop all
    if "padding" in o:
        o["padding"] = padding(config, kind, o["padding"], ("valid", "same"))
    o["data_format"] = data_format(config, kind, o.get("data_format"))
    filters, kernel_size = o.pop("filters"), o.pop("kernel_size")
    return build(kind, config, cls, filters, kernel_size, **o, **common_kwargs(config, ctx))


@register("ConvLSTM1D")
def _conv_lstm1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _convert("ConvLSTM1D", ConvLSTM1D, config, ctx)


@register("ConvLSTM2D")
def _conv_lstm2d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _convert("ConvLSTM2D", ConvLSTM2D, config, ctx)


@register("ConvLSTM3D")
def _conv_lstm3d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _convert("ConvLSTM3D", ConvLSTM3D, config, ctx)
