"""Keras ``Conv1D`` and the window arithmetic shared with the poolings.

``Conv1D`` computes exactly what Keras computes (TensorFlow's possibly asymmetric ``"same"``
padding, ``"causal"`` padding, dilation, groups) and keeps Keras's weight order and shapes in
``get_keras_weights`` / ``set_keras_weights``; masks are dropped, as in Keras. Its converter is in
:mod:`keraslike_torch.converters`.

From a Keras layer (its config goes through the converter registry, then its weights):

>>> import keras, numpy as np, keraslike_torch as kt                        # doctest: +SKIP
>>> layer = keras.layers.Conv1D(8, 4, padding="same", strides=2)            # doctest: +SKIP
>>> layer.build((None, 9, 3))                                               # doctest: +SKIP
>>> x = np.random.randn(2, 9, 3).astype("float32")                          # doctest: +SKIP
>>> kt.testing.assert_keras_parity(layer, kt.from_keras(layer), x)          # doctest: +SKIP
ParityReport(1 outputs agree: ...)

Or directly:

>>> import torch
>>> from keraslike_torch.layers import Conv1D, MaxPooling1D
>>> x = torch.randn(2, 7, 3)
>>> y = MaxPooling1D(2, padding="same")(Conv1D(4, 3, padding="causal")(x))
>>> tuple(y.shape)
(2, 4, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common.config import LazyBuild, loaded_shape
from ._checks import cast_like, check_data_format, check_tensor, numpy, positive_int, weight_shape
from .base import KerasLayer, check_weights

__all__ = ["Conv1D", "same_padding", "conv_output_length"]


def same_padding(length: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's ``"SAME"`` padding ``(left, right)`` of a 1-D window: the output has
    ``ceil(length / stride)`` steps and the odd padding element goes on the right.

    >>> same_padding(10, 4, 3)
    (1, 2)
    >>> same_padding(5, 3, 1, dilation=2)
    (2, 2)
    """
    effective = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def conv_output_length(
    length: int, kernel: int, padding: str, stride: int = 1, dilation: int = 1
) -> int:
    """Output steps of a 1-D convolution or pooling window, as Keras computes them.

    >>> conv_output_length(10, 3, "valid", 2), conv_output_length(10, 3, "same", 4)
    (4, 3)
    """
    effective = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return -(-length // stride) if padding == "same" else (length - 1) // stride + 1
    if padding != "valid":
        raise ValueError(f"padding must be 'valid', 'same' or 'causal', got {padding!r}")
    return (length - effective) // stride + 1 if length >= effective else 0



class Conv1D(LazyBuild, KerasLayer):
    """Keras ``Conv1D`` (``Convolution1D``): ``"valid"``, TensorFlow's ``"same"`` (the odd
    padding element on the right) and ``"causal"`` padding, strides, dilation, groups.

    Input ``(batch, steps, channels)`` (``(batch, channels, steps)`` with
    ``data_format="channels_first"``; more leading batch dimensions are allowed, as in tf-keras).
    Keras's kernel ``(kernel_size, channels // groups, filters)`` is stored as torch's conv1d
    ``weight`` ``(filters, channels // groups, kernel_size)``. The input size is found on the first
    call or from the weights when not given.

    >>> import torch
    >>> conv = Conv1D(4, 3, padding="same", activation="relu")
    >>> tuple(conv(torch.zeros(2, 7, 5)).shape), conv.count_params()
    ((2, 7, 4), 64)
    >>> [w.shape for w in conv.get_keras_weights()]
    [(3, 5, 4), (4,)]
    """

    keras_class = "Conv1D"

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
        activation: _activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: _initializers.InitializerLike = "glorot_uniform",
        bias_initializer: _initializers.InitializerLike = "zeros",
        input_size: int | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        self.filters = positive_int(f"{kind}: filters", filters, single=True)
        self.kernel_size = positive_int(f"{kind}: kernel_size", kernel_size, single=True)
        self.strides = positive_int(f"{kind}: strides", strides, single=True)
        self.dilation_rate = positive_int(f"{kind}: dilation_rate", dilation_rate, single=True)
        self.groups = positive_int(f"{kind}: groups", groups, single=True)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same", "causal"):
            raise ValueError(
                f"{kind}: padding must be 'valid', 'same' or 'causal', got {padding!r}"
            )
        self.data_format = check_data_format(data_format, kind)
        if self.filters % self.groups:
            raise ValueError(
                f"{kind}: filters ({self.filters}) must be divisible by groups ({self.groups})"
            )
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(
                f"{kind}: strides > 1 is not supported with dilation_rate > 1 (as in Keras)"
            )
        self.activation = _activations.get(activation, keras_version)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        factory = {"device": device, "dtype": dtype}
        self.input_size: int | None = None
        self.weight = nn.UninitializedParameter(**factory)
        self.bias: nn.Parameter | None
        if self.use_bias:
            self.bias = nn.Parameter(torch.empty(self.filters, **factory))
        else:
            self.register_parameter("bias", None)
        if input_size is not None:
            self.build(positive_int(f"{kind}: input_size", input_size, single=True))

    size_what = "input channels"

    def _materialize(self, input_size: int) -> None:
        if input_size % self.groups:
            raise ValueError(
                f"{type(self).__name__}: input channels ({input_size}) must be divisible by groups "
                f"({self.groups})"
            )
        with torch.no_grad():
            self.weight.materialize((self.filters, input_size // self.groups, self.kernel_size))
        self.input_size = int(input_size)

    def reset_parameters(self) -> None:
        """Draw fresh weights with the Keras initializers, in Keras's shapes."""
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet (call it once or set weights)"
            )
        w = self.weight
        arrays = [
            self.kernel_initializer(
                torch.empty(self.keras_weight_shapes()[0], dtype=w.dtype, device=w.device)
            )
        ]
        if self.use_bias:
            arrays.append(
                self.bias_initializer(torch.empty(self.filters, dtype=w.dtype, device=w.device))
            )
        self._assign(arrays)

    def built_config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this layer as it is now (size and dtype)."""
        return {"input_size": self.input_size, "dtype": self.weight.dtype}

    def extra_repr(self) -> str:
        return (
            f"filters={self.filters}, kernel_size={self.kernel_size}, strides={self.strides}, "
            f"padding={self.padding!r}, dilation_rate={self.dilation_rate}, groups={self.groups}, "
            f"activation={self.activation.name}, use_bias={self.use_bias}, "
            f"input_size={self.input_size}"
            + (", data_format='channels_first'" if self.data_format == "channels_first" else "")
        )

    # ---- Keras weights ------------------------------------------------------------------------

    def keras_weight_shapes(self, input_size: int | None = None) -> list[tuple[int, ...]]:
        d = self.input_size if input_size is None else input_size
        if d is None:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet: its kernel shape depends on the input "
                "channels"
            )
        shapes: list[tuple[int, ...]] = [(self.kernel_size, d // self.groups, self.filters)]
        if self.use_bias:
            shapes.append((self.filters,))
        return shapes

    def get_keras_weights(self) -> list[np.ndarray]:
        """``[kernel (k, in // groups, filters), bias (filters,)]`` as Keras ``get_weights()``."""
        if not self.built:
            return []
        out = [numpy(self.weight.permute(2, 1, 0))]
        if self.bias is not None:
            out.append(numpy(self.bias))
        return out

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        size = self.input_size
        if size is None:
            shape = weight_shape(weights, 0, 3)
            size = shape[1] * self.groups if shape is not None else self.groups
        w = self.weight
        arrays = check_weights(label, weights, self.keras_weight_shapes(size), w.dtype, w.device)
        if not self.built:
            self.build(size, initialize=False)
        self._assign(arrays)

    def _assign(self, arrays: Sequence[Tensor]) -> None:
        with torch.no_grad():
            self.weight.copy_(arrays[0].permute(2, 1, 0))
            if self.bias is not None:
                self.bias.copy_(arrays[1])

    def keras_gradients(self) -> list[Tensor | None]:
        g = self.weight.grad
        out: list[Tensor | None] = [None if g is None else g.permute(2, 1, 0)]
        if self.bias is not None:
            out.append(self.bias.grad)
        return out

    def keras_param_counts(self) -> tuple[int, int]:
        if not self.built:
            return 0, 0
        return super().keras_param_counts()

    # ---- forward ------------------------------------------------------------------------------

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = check_tensor(self, inputs, 3)
        channels_last = self.data_format == "channels_last"
        channels = x.shape[-1] if channels_last else x.shape[-2]
        if self.built and channels != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects {self.input_size} input channels, got {channels} "
                f"in input of shape {tuple(x.shape)}"
            )
        if not self.built:
            self.build(int(channels))
        x = cast_like(self, x, self.weight)
        lead = x.shape[:-2]
        x = x.flatten(0, x.dim() - 3)
        if channels_last:
            x = x.transpose(1, 2)
        steps = x.shape[-1]
        if (
            conv_output_length(
                steps, self.kernel_size, self.padding, self.strides, self.dilation_rate
            )
            <= 0
        ):
            raise ValueError(
                f"{type(self).__name__}: an input of {steps} steps is too short for kernel_size="
                f"{self.kernel_size}, dilation_rate={self.dilation_rate} with padding='valid'"
            )
        if self.padding == "same":
            left, right = same_padding(steps, self.kernel_size, self.strides, self.dilation_rate)
        elif self.padding == "causal":
            left, right = self.dilation_rate * (self.kernel_size - 1), 0
        else:
            left = right = 0
        pad: int | tuple[int] = left
        if left != right:
            x = F.pad(x, (left, right))
            pad = 0
        y = F.conv1d(x, self.weight, self.bias, self.strides, pad, self.dilation_rate, self.groups)
        if channels_last:
            y = y.transpose(1, 2)
        y = self.activation(y)
        return y.reshape(*lead, *y.shape[1:])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        shape = loaded_shape(state_dict, prefix + "weight")  # None: absent or unbuilt
        if not self.built and shape is not None:
            self.build(shape[1] * self.groups)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

