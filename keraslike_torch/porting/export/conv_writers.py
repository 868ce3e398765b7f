"""Config writers of the N-d convolutions (Conv2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D,
Conv1D/2D/3DTranspose), registered with :func:`~keraslike_torch.porting.export.configs.writes`:
each writes the keys, in the order, real Keras writes for the target generation (3: Keras 3;
2: tf-keras 2.x). Settings a generation cannot run raise :class:`ExportError` naming the layer.

>>> import keraslike_torch as kt
>>> from keraslike_torch.porting.export.configs import layer_config
>>> entry = layer_config(kt.layers.Conv2D(2, 3, name="c"), 3)
>>> entry["class_name"], entry["config"]["kernel_size"]
('Conv2D', [3, 3])
"""

from __future__ import annotations

from typing import Any

from ...layers import (
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
from ...layers.convolutional import as_tuple
from .configs import ExportError, _init, activation_name, layer_label, writes

__all__: list[str] = []


def _sizes(v: Any) -> list[int]:
    return list(as_tuple(v))


def _window(m: Any) -> dict[str, Any]:
    return {"kernel_size": _sizes(m.kernel_size), "strides": _sizes(m.strides), "padding": m.padding,
            "data_format": m.data_format, "dilation_rate": _sizes(m.dilation_rate)}


def _nones(*names: str) -> dict[str, None]:
    """The regularizer and constraint keys Keras writes (all None: training-only terms)."""
    out: dict[str, None] = {f"{n}_regularizer": None for n in names}
    out["activity_regularizer"] = None
    out.update({f"{n}_constraint": None for n in names})
    return out


@writes(Conv2D, Conv3D)
def _conv(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    c = {"filters": m.filters, **_window(m), "groups": m.groups,
         "activation": activation_name(m, m.activation, gen), "use_bias": m.use_bias,
         "kernel_initializer": _init(m, "kernel_initializer", "GlorotUniform", gen),
         "bias_initializer": _init(m, "bias_initializer", "Zeros", gen), **_nones("kernel", "bias")}
    return m.keras_class, c


def _no_strided_dilation(m: Any, gen: int) -> None:
    if gen < 3 and max(as_tuple(m.strides)) > 1 and max(as_tuple(m.dilation_rate)) > 1:
        raise ExportError(f"{layer_label(m)}: strides > 1 with dilation_rate > 1 does not run in tf-keras; "
                          "save as .keras (Keras 3)")


@writes(DepthwiseConv1D, DepthwiseConv2D)
def _depthwise(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    _no_strided_dilation(m, gen)
    act = activation_name(m, m.activation, gen)
    bias_init = _init(m, "bias_initializer", "Zeros", gen)
    depth_init = _init(m, "depthwise_initializer", "GlorotUniform", gen)
    if gen >= 3:
        return m.keras_class, {"depth_multiplier": m.depth_multiplier, **_window(m), "activation": act,
                               "use_bias": m.use_bias, "depthwise_initializer": depth_init,
                               "bias_initializer": bias_init, **_nones("depthwise", "bias")}
    return m.keras_class, {**_window(m), "groups": 1, "activation": act, "use_bias": m.use_bias,
                           "bias_initializer": bias_init, "bias_regularizer": None, "activity_regularizer": None,
                           "bias_constraint": None, "depth_multiplier": m.depth_multiplier,
                           "depthwise_initializer": depth_init, "depthwise_regularizer": None,
                           "depthwise_constraint": None}


@writes(SeparableConv1D, SeparableConv2D)
def _separable(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    _no_strided_dilation(m, gen)
    if gen >= 3 and m.padding == "causal":
        raise ExportError(f"{layer_label(m)}: padding='causal' is tf-keras only; save as .h5 (tf-keras)")
    act = activation_name(m, m.activation, gen)
    inits = {"depthwise_initializer": _init(m, "depthwise_initializer", "GlorotUniform", gen),
             "pointwise_initializer": _init(m, "pointwise_initializer", "GlorotUniform", gen)}
    bias_init = _init(m, "bias_initializer", "Zeros", gen)
    if gen >= 3:
        return m.keras_class, {"depth_multiplier": m.depth_multiplier, "filters": m.filters, **_window(m),
                               "activation": act, "use_bias": m.use_bias, **inits, "bias_initializer": bias_init,
                               **_nones("depthwise", "pointwise", "bias")}
    c = {"filters": m.filters, **_window(m), "groups": 1, "activation": act, "use_bias": m.use_bias,
         "kernel_initializer": _init(m, "kernel_initializer", "GlorotUniform", gen), "bias_initializer": bias_init,
         **_nones("kernel", "bias"), "depth_multiplier": m.depth_multiplier, **inits,
         "depthwise_regularizer": None, "pointwise_regularizer": None, "depthwise_constraint": None,
         "pointwise_constraint": None}
    return m.keras_class, c


@writes(Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)
def _transpose(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    window = _window(m)
    out_pad = None if m.output_padding is None else _sizes(m.output_padding)
    rest = {"activation": activation_name(m, m.activation, gen), "use_bias": m.use_bias,
            "kernel_initializer": _init(m, "kernel_initializer", "GlorotUniform", gen),
            "bias_initializer": _init(m, "bias_initializer", "Zeros", gen), **_nones("kernel", "bias")}
    if gen >= 3:
        pad = window.pop("padding")
        fmt = window.pop("data_format")
        dilation = window.pop("dilation_rate")
        return m.keras_class, {"filters": m.filters, **window, "padding": pad, "output_padding": out_pad,
                               "data_format": fmt, "dilation_rate": dilation, **rest}
    if m.rank == 3:  # tf-keras's Conv3DTranspose has no dilation_rate
        if max(as_tuple(m.dilation_rate)) > 1:
            raise ExportError(f"{layer_label(m)}: tf-keras's Conv3DTranspose has no dilation_rate; "
                              "save as .keras (Keras 3)")
        del window["dilation_rate"]
    return m.keras_class, {"filters": m.filters, **window, "groups": 1, **rest, "output_padding": out_pad}
