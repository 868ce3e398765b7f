"""Config writers of ConvLSTM1D / ConvLSTM2D / ConvLSTM3D for both generations (the mirror of
:mod:`keraslike_torch.porting.converters.conv_lstm`). Their weights go where the recurrent
layers' go (``cell/vars`` in Keras 3, in order in a legacy ``.h5``)."""

from __future__ import annotations

from typing import Any

from ...recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .configs import _NONES, ExportError, _init, activation_name, layer_label, writes

__all__: list[str] = []


@writes(ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)
def _conv_lstm(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    cell = m.cell
    if m.stateful:
        raise ExportError(f"{layer_label(m)}: stateful layers need a fixed batch size in Keras; "
                          "not written (build the Keras model with batch_shape yourself)")
    c: dict[str, Any] = {
        "return_sequences": m.return_sequences, "return_state": m.return_state,
        "go_backwards": m.go_backwards, "stateful": m.stateful, "unroll": m.unroll,
    }
    if gen >= 3:
        c["zero_output_for_mask"] = m.zero_output_for_mask
    else:
        c["time_major"] = False
        if m.zero_output_for_mask:
            raise ExportError(f"{layer_label(m)}: zero_output_for_mask=True cannot be written for tf-keras; "
                              "save to .keras")
    c.update({
        "filters": m.filters, "kernel_size": list(m.kernel_size), "strides": list(m.strides),
        "padding": m.padding, "data_format": m.data_format, "dilation_rate": list(m.dilation_rate),
        "activation": activation_name(m, cell.activation, gen),
        "recurrent_activation": activation_name(m, cell.recurrent_activation, gen, "recurrent_activation"),
        "use_bias": cell.use_bias,
        "kernel_initializer": _init(m, "kernel_initializer", "GlorotUniform", gen, cell),
        "recurrent_initializer": _init(m, "recurrent_initializer", "Orthogonal", gen, cell),
        "bias_initializer": _init(m, "bias_initializer", "Zeros", gen, cell),
        "unit_forget_bias": bool(cell.unit_forget_bias),
    })
    c.update(dict.fromkeys(_NONES))
    c["dropout"], c["recurrent_dropout"] = float(m.dropout), float(m.recurrent_dropout)
    if gen >= 3:
        c["seed"] = None
    return m.keras_class, c
