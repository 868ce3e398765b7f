"""Convolution, pooling, normalization and TimeDistributed Keras layers.

Each module computes exactly what Keras computes (TensorFlow's possibly asymmetric ``"same"``
padding, average pooling that divides by the number of real elements, the moment formulas and
moving-average updates of each Keras generation) and keeps Keras's weight order and shapes in
``get_keras_weights`` / ``set_keras_weights``. Masks follow tf-keras: ``BatchNormalization`` and
``LayerNormalization`` pass them on, ``GlobalAveragePooling1D`` consumes them, convolutions and
pooling drop them, ``TimeDistributed`` asks the wrapped layer.

From a Keras layer (its config goes through the converter registry, then its weights):

>>> import keras, numpy as np, keraslike_torch as kt                        # doctest: +SKIP
>>> layer = keras.layers.Conv1D(8, 4, padding="same", strides=2)            # doctest: +SKIP
>>> layer.build((None, 9, 3))                                               # doctest: +SKIP
>>> x = np.random.randn(2, 9, 3).astype("float32")                          # doctest: +SKIP
>>> kt.testing.assert_keras_parity(layer, kt.from_keras(layer), x)          # doctest: +SKIP
ParityReport(1 outputs agree: ...)

Or directly:

>>> import torch
>>> from keraslike_torch.keras_layers.conv import Conv1D, MaxPooling1D
>>> x = torch.randn(2, 7, 3)
>>> y = MaxPooling1D(2, padding="same")(Conv1D(4, 3, padding="causal")(x))
>>> tuple(y.shape)
(2, 4, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common.config import LazyBuild, UninitializedBuffer, loaded_shape
from ..common.config import as_bool_mask as _bool_mask
from ..porting.registry import (
    ConvertContext,
    UnsupportedLayerError,
    config_dtype,
    convert_layer,
    options,
    register,
    unsupported,
)
from .base import KerasLayer, check_weights

__all__ = [
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "BatchNormalization",
    "LayerNormalization",
    "TimeDistributed",
    "same_padding",
    "conv_output_length",
]

_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), used by Keras 3's masked batch moments


# ---- shared helpers -----------------------------------------------------------------------------


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


def _positive_int(name: str, value: Any, layer: str) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{layer}: {name} must be one integer (1-D layer), got {value!r}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _data_format(value: Any, layer: str) -> str:
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return fmt


def _check_tensor(layer: KerasLayer, x: Any, min_ndim: int, ndim: int | None = None) -> Tensor:
    kind = type(layer).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{kind} expects a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{kind} expects floating-point input, got {x.dtype}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{kind} expects a {ndim}-D input; got shape {tuple(x.shape)}")
    if x.dim() < min_ndim:
        raise ValueError(
            f"{kind} expects an input with at least {min_ndim} dimensions; got shape "
            f"{tuple(x.shape)}"
        )
    return x


def _cast(layer: KerasLayer, x: Tensor, ref: Tensor) -> Tensor:
    """``x`` in the layer's dtype (Keras casts floating-point inputs to the layer's compute dtype);
    a device mismatch is an error."""
    if x.device != ref.device:
        raise ValueError(
            f"input is on {x.device} but the {type(layer).__name__} layer's weights are on "
            f"{ref.device}"
        )
    return x if x.dtype == ref.dtype else x.to(ref.dtype)



def _dtype_buffer(layer: nn.Module, device: Any, dtype: torch.dtype | None) -> None:
    """A zero-size buffer that carries a layer's dtype and device through "
    "``.to()``/``.double()``."""
    layer.register_buffer(
        "_dtype_ref",
        torch.empty(0, dtype=dtype or torch.get_default_dtype(), device=device),
        persistent=False,
    )


def _weight_shape(weights: Any, index: int, rank: int) -> tuple[int, ...] | None:
    """Shape of ``weights[index]`` when it is an array of ``rank`` dims (to size a lazy layer)."""
    try:
        shape = tuple(int(d) for d in np.shape(weights[index]))
    except Exception:
        return None
    return shape if len(shape) == rank else None


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


# ---- Conv1D -------------------------------------------------------------------------------------


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
        self.filters = _positive_int("filters", filters, kind)
        self.kernel_size = _positive_int("kernel_size", kernel_size, kind)
        self.strides = _positive_int("strides", strides, kind)
        self.dilation_rate = _positive_int("dilation_rate", dilation_rate, kind)
        self.groups = _positive_int("groups", groups, kind)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same", "causal"):
            raise ValueError(
                f"{kind}: padding must be 'valid', 'same' or 'causal', got {padding!r}"
            )
        self.data_format = _data_format(data_format, kind)
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
            self.build(_positive_int("input_size", input_size, kind))

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
        out = [_numpy(self.weight.permute(2, 1, 0))]
        if self.bias is not None:
            out.append(_numpy(self.bias))
        return out

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        size = self.input_size
        if size is None:
            shape = _weight_shape(weights, 0, 3)
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
        x = _check_tensor(self, inputs, 3)
        channels_last = self.data_format == "channels_last"
        channels = x.shape[-1] if channels_last else x.shape[-2]
        if self.built and channels != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects {self.input_size} input channels, got {channels} "
                f"in input of shape {tuple(x.shape)}"
            )
        if not self.built:
            self.build(int(channels))
        x = _cast(self, x, self.weight)
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


# ---- pooling ------------------------------------------------------------------------------------


class _Pooling1D(KerasLayer):
    """Shared code of :class:`MaxPooling1D` and :class:`AveragePooling1D` (3-D inputs)."""

    _dtype_ref: Tensor

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = "channels_last",
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        _dtype_buffer(self, device, dtype)
        self.pool_size = _positive_int("pool_size", pool_size, kind)
        self.strides = (
            self.pool_size if strides is None else _positive_int("strides", strides, kind)
        )
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}")
        self.data_format = _data_format(data_format, kind)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}" + (
            ", data_format='channels_first'" if self.data_format == "channels_first" else ""
        )

    def built_config(self) -> dict[str, Any]:
        return {"dtype": self._dtype_ref.dtype}

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = _cast(self, _check_tensor(self, inputs, 3, ndim=3), self._dtype_ref)
        channels_last = self.data_format == "channels_last"
        if channels_last:
            x = x.transpose(1, 2)
        steps = x.shape[-1]
        if conv_output_length(steps, self.pool_size, self.padding, self.strides) <= 0:
            raise ValueError(
                f"{type(self).__name__}: an input of {steps} steps is too short for "
                f"pool_size={self.pool_size} with padding='valid'"
            )
        y = self._pool(x, steps)
        return y.transpose(1, 2) if channels_last else y

    def _pool(self, x: Tensor, steps: int) -> Tensor:
        raise NotImplementedError


class MaxPooling1D(_Pooling1D):
    """Keras ``MaxPooling1D`` (``MaxPool1D``); ``"same"`` padding never selects a pad element.

    >>> import torch
    >>> x = torch.arange(5.0).reshape(1, 5, 1)
    >>> MaxPooling1D(2, padding="same")(x).flatten().tolist()
    [1.0, 3.0, 4.0]
    """

    keras_class = "MaxPooling1D"

    def _pool(self, x: Tensor, steps: int) -> Tensor:
        if self.padding == "same":
            left, right = same_padding(steps, self.pool_size, self.strides)
            if left or right:
                x = F.pad(x, (left, right), value=-math.inf)
        return F.max_pool1d(x, self.pool_size, self.strides)


class AveragePooling1D(_Pooling1D):
    """Keras ``AveragePooling1D`` (``AvgPool1D``); with ``"same"`` padding each window is divided
    by its number of real (non-padding) elements, as TensorFlow does.

    >>> import torch
    >>> x = torch.arange(5.0).reshape(1, 5, 1)
    >>> AveragePooling1D(2, padding="same")(x).flatten().tolist()
    [0.5, 2.5, 4.0]
    """

    keras_class = "AveragePooling1D"

    def _pool(self, x: Tensor, steps: int) -> Tensor:
        if self.padding == "valid":
            return F.avg_pool1d(x, self.pool_size, self.strides)
        left, right = same_padding(steps, self.pool_size, self.strides)
        if not (left or right):
            return F.avg_pool1d(x, self.pool_size, self.strides)
        windows = F.pad(x, (left, right)).unfold(-1, self.pool_size, self.strides)  # (B, C, out, k)
        start = torch.arange(windows.shape[-2], device=x.device) * self.strides - left
        counts = (start + self.pool_size).clamp(max=steps) - start.clamp(min=0)
        return windows.sum(-1) / counts.to(x.dtype)


class _GlobalPooling1D(KerasLayer):
    _dtype_ref: Tensor

    def __init__(
        self,
        data_format: str | None = "channels_last",
        keepdims: bool = False,
        name: str | None = None,
        keras_version: int = 3,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        _dtype_buffer(self, device, dtype)
        self.data_format = _data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)
        self.keras_version = int(keras_version)

    @property
    def _steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def extra_repr(self) -> str:
        parts = [f"keepdims={self.keepdims}"]
        if self.data_format == "channels_first":
            parts.append("data_format='channels_first'")
        return ", ".join(parts)

    def built_config(self) -> dict[str, Any]:
        return {"dtype": self._dtype_ref.dtype}

    def _input(self, inputs: Any) -> Tensor:
        x = _cast(self, _check_tensor(self, inputs, 3, ndim=3), self._dtype_ref)
        if x.shape[self._steps_axis] == 0:
            raise ValueError(
                f"{type(self).__name__} got an input with 0 steps: shape {tuple(x.shape)}"
            )
        return x


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Keras ``GlobalMaxPooling1D`` (``GlobalMaxPool1D``): the maximum over steps. Masks are
    ignored (tf-keras does not support them here) and not propagated.

    >>> import torch
    >>> GlobalMaxPooling1D(keepdims=True)(torch.arange(6.0).reshape(1, 3, 2)).tolist()
    [[[4.0, 5.0]]]
    """

    keras_class = "GlobalMaxPooling1D"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._input(inputs)
        return x.amax(dim=self._steps_axis, keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Keras ``GlobalAveragePooling1D`` (``GlobalAvgPool1D``): the mean over steps, or with a
    ``(batch, steps)`` mask the mean over unmasked steps; the output carries no mask.

    tf-keras multiplies the input by the mask (a NaN/inf at a masked step still poisons the mean),
    Keras 3 selects with ``where``; ``keras_version`` picks which (a row with no unmasked step
    gives NaN in both).

    >>> import torch
    >>> x = torch.tensor([[[1.0], [3.0], [8.0]]])
    >>> GlobalAveragePooling1D()(x, mask=torch.tensor([[True, True, False]])).tolist()
    [[2.0]]
    """

    keras_class = "GlobalAveragePooling1D"
    supports_masking = True

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._input(inputs)
        axis = self._steps_axis
        if mask is None:
            return x.mean(dim=axis, keepdim=self.keepdims)
        m = _bool_mask(mask, x.device)
        if tuple(m.shape) != (x.shape[0], x.shape[axis]):
            raise ValueError(
                f"{type(self).__name__}: mask shape {tuple(m.shape)} does not match the input's "
                f"(batch, steps) = ({x.shape[0]}, {x.shape[axis]})"
            )
        m = m.unsqueeze(2 if axis == 1 else 1)
        weights = m.to(x.dtype)
        if self.keras_version >= 3:
            total = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(
                axis, keepdim=self.keepdims
            )
        else:
            total = (x * weights).sum(axis, keepdim=self.keepdims)
        return total / weights.sum(axis, keepdim=self.keepdims)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


# ---- normalization ------------------------------------------------------------------------------


class _TensorListWeights(LazyBuild):
    """Normalization layers: their Keras weights are exactly ``_tensors()``, in order."""

    def _tensors(self) -> list[Tensor]:
        raise NotImplementedError

    def _assign(self, arrays: Sequence[Tensor]) -> None:
        with torch.no_grad():
            for t, a in zip(self._tensors(), arrays, strict=True):
                t.copy_(a)

    def keras_gradients(self) -> list[Tensor | None]:
        return [t.grad for t in self._tensors()]


class BatchNormalization(_TensorListWeights, KerasLayer):
    """Keras ``BatchNormalization`` over one ``axis`` (the channels; ``-1`` typically).

    Inference (``training`` false, or ``trainable=False`` as in Keras) uses the moving statistics;
    training uses the batch mean and biased variance over all other axes (a mask of the input's
    shape without its last axis weights the steps, as in Keras) and updates the moving
    statistics the way the Keras generation does (``keras_version``): tf-keras
    ``moving -= (moving - batch) * (1 - momentum)``, Keras 3
    ``moving = moving * momentum + batch * (1 - momentum)``. ``synchronized=True`` computes the
    variance as ``E[x^2] - E[x]^2`` as Keras's synchronized path does.

    Keras weights: ``[gamma (if scale), beta (if center), moving_mean, moving_variance]``; the
    moving statistics are buffers and count as non-trainable parameters.

    >>> import torch
    >>> bn = BatchNormalization()
    >>> y = bn(torch.randn(4, 5, 3), training=True)
    >>> bn.keras_param_counts(), [tuple(w.shape) for w in bn.get_keras_weights()]
    ((6, 6), [(3,), (3,), (3,), (3,)])
    """

    keras_class = "BatchNormalization"
    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        *,
        beta_initializer: _initializers.InitializerLike = "zeros",
        gamma_initializer: _initializers.InitializerLike = "ones",
        moving_mean_initializer: _initializers.InitializerLike = "zeros",
        moving_variance_initializer: _initializers.InitializerLike = "ones",
        synchronized: bool = False,
        trainable: bool = True,
        num_features: int | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        if isinstance(axis, Sequence) and not isinstance(axis, str):
            if len(axis) != 1:
                raise ValueError(
                    f"{kind}: normalizing over several axes ({list(axis)}) is not supported"
                )
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{kind}: axis must be an integer, got {axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)
        self.trainable = bool(trainable)
        self.keras_version = int(keras_version)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        factory = {"device": device, "dtype": dtype}
        self.num_features: int | None = None
        self.gamma = nn.UninitializedParameter(**factory) if self.scale else None
        self.beta = nn.UninitializedParameter(**factory) if self.center else None
        self.moving_mean: Tensor
        self.moving_variance: Tensor
        self.register_buffer("moving_mean", UninitializedBuffer(**factory))
        self.register_buffer("moving_variance", UninitializedBuffer(**factory))
        if num_features is not None:
            self.build(_positive_int("num_features", num_features, kind))

    size_attr = "num_features"
    size_what = "features"

    def _materialize(self, num_features: int) -> None:
        with torch.no_grad():
            for t in self._tensors():
                t.materialize((num_features,))  # type: ignore[attr-defined]
        self.num_features = int(num_features)

    def _tensors(self) -> list[Tensor]:
        return [
            t
            for t in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
            if t is not None
        ]

    def _initializers(self) -> list[Any]:
        inits = [self.gamma_initializer] if self.scale else []
        if self.center:
            inits.append(self.beta_initializer)
        return inits + [self.moving_mean_initializer, self.moving_variance_initializer]

    def reset_parameters(self) -> None:
        """Initialize all four tensors with the Keras initializers."""
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet (call it once or set weights)"
            )
        ref = self.moving_mean
        self._assign(
            [
                init(torch.empty(ref.shape, dtype=ref.dtype, device=ref.device))
                for init in self._initializers()
            ]
        )

    def built_config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this layer as it is now (size and dtype)."""
        return {"num_features": self.num_features, "dtype": self.moving_mean.dtype}

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, axis={self.axis}, momentum={self.momentum}, "
            f"epsilon={self.epsilon}, center={self.center}, scale={self.scale}"
            + ("" if self.trainable else ", trainable=False")
            + (", synchronized=True" if self.synchronized else "")
        )

    # ---- Keras weights ------------------------------------------------------------------------

    def keras_weight_shapes(self, num_features: int | None = None) -> list[tuple[int, ...]]:
        n = self.num_features if num_features is None else num_features
        if n is None:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet: its weight shapes depend on the input"
            )
        return [(n,)] * len(self._initializers())

    def get_keras_weights(self) -> list[np.ndarray]:
        """``[gamma, beta, moving_mean, moving_variance]`` (gamma/beta only if scale/center)."""
        return [_numpy(t) for t in self._tensors()] if self.built else []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        n = self.num_features
        if n is None:
            shape = _weight_shape(weights, 0, 1)
            n = shape[0] if shape is not None else 1
        ref = self.moving_mean
        arrays = check_weights(label, weights, self.keras_weight_shapes(n), ref.dtype, ref.device)
        if not self.built:
            self.build(n, initialize=False)
        self._assign(arrays)


    def keras_param_counts(self) -> tuple[int, int]:
        if not self.built:
            return 0, 0
        n = int(self.num_features)  # type: ignore[arg-type]
        trainable = n * (int(self.scale) + int(self.center))
        return (trainable, 2 * n) if self.trainable else (0, trainable + 2 * n)

    # ---- forward ------------------------------------------------------------------------------

    def uses_batch_statistics(self, training: bool | None = None) -> bool:
        """Whether a call normalizes with batch statistics (and updates the moving ones)."""
        return self._training(training) and self.trainable

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = _check_tensor(self, inputs, 1)
        ndim = x.dim()
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"{type(self).__name__}: axis {self.axis} is out of range for an input of shape "
                f"{tuple(x.shape)}"
            )
        ax = self.axis % ndim
        n = x.shape[ax]
        if self.built and n != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_features} features on axis {self.axis}, "
                f"got {n} "
                f"in input of shape {tuple(x.shape)}"
            )
        if not self.built:
            self.build(int(n))
        x = _cast(self, x, self.moving_mean)
        shape = [1] * ndim
        shape[ax] = n
        if self.uses_batch_statistics(training):
            reduce = [i for i in range(ndim) if i != ax]
            m = self._mask(mask, x)
            if self._tf_fused(ndim, ax, x.dtype):
                # tf-keras's fused kernel: the mask is ignored (with a warning) and the moving
                # variance is updated with the Bessel-corrected batch variance.
                mean, variance = self._moments(x, reduce, None)
                count = x.numel() // max(n, 1)
                self._update_moving_fused(
                    mean.detach(), variance.detach() * (count / max(count - 1, 1))
                )
            else:
                mean, variance = self._moments(x, reduce, m)
                self._update_moving(mean.detach(), variance.detach())
        else:
            mean, variance = self.moving_mean, self.moving_variance
        # tf.nn.batch_normalization
        inv = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        offset = self.beta - mean * inv if self.beta is not None else -mean * inv
        return x * inv.reshape(shape) + offset.reshape(shape)

    def _mask(self, mask: Any, x: Tensor) -> Tensor | None:
        if mask is None:
            return None
        m = _bool_mask(mask, x.device)
        expected = tuple(x.shape[:-1])
        if m.dim() != x.dim() - 1:
            raise ValueError(
                f"{type(self).__name__}: the mask must have one dimension less than the input; "
                f"got mask shape {tuple(m.shape)} for input shape {tuple(x.shape)} (expected "
                f"{expected})"
            )
        try:
            m = m.unsqueeze(-1).expand(x.shape)
        except RuntimeError:
            raise ValueError(
                f"{type(self).__name__}: mask shape {tuple(m.shape)} does not broadcast to the "
                "input "
                f"shape {tuple(x.shape)} (expected {expected})"
            ) from None
        return m

    def _moments(self, x: Tensor, reduce: list[int], mask: Tensor | None) -> tuple[Tensor, Tensor]:
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        if mask is not None and self.keras_version >= 3:
            # Keras 3: where-masked sums over (count + backend.epsilon())
            count = mask.to(x.dtype).sum(reduce, keepdim=True) + _KERAS_EPSILON
            mean = torch.where(mask, x, zero).sum(reduce, keepdim=True) / count
            diff = torch.where(mask, x - mean, zero)
            variance = diff.square().sum(reduce, keepdim=True) / count
            return mean.flatten(), variance.flatten()
        if self.synchronized:
            # mean and E[x^2] - mean^2 (clipped at 0), with divide_no_nan
            if mask is not None:
                w = mask.to(x.dtype)
                y, count = x * w, w.sum(reduce, keepdim=True)
            else:
                y, count = x, torch.full(
                    (), math.prod(x.shape[i] for i in reduce), dtype=x.dtype, device=x.device
                )
            safe = torch.where(count == 0, torch.ones_like(count), count)
            mean = torch.where(count == 0, zero, y.sum(reduce, keepdim=True) / safe)
            sq = torch.where(count == 0, zero, y.square().sum(reduce, keepdim=True) / safe)
            variance = torch.clamp_min(sq - mean.square(), 0.0)
            return mean.flatten(), variance.flatten()
        if mask is None:
            # tf.nn.moments
            mean = x.mean(reduce, keepdim=True)
            variance = (x - mean).square().mean(reduce, keepdim=True)
            return mean.flatten(), variance.flatten()
        # tf.nn.weighted_moments with the mask as frequency weights (divide_no_nan)
        w = mask.to(x.dtype)
        count = w.sum(reduce, keepdim=True)
        safe = torch.where(count == 0, torch.ones_like(count), count)
        mean = torch.where(count == 0, zero, (w * x).sum(reduce, keepdim=True) / safe)
        variance = torch.where(
            count == 0, zero, (w * (x - mean).square()).sum(reduce, keepdim=True) / safe
        )
        return mean.flatten(), variance.flatten()

    def _tf_fused(self, ndim: int, axis: int, dtype: torch.dtype) -> bool:
        """Whether tf-keras runs this call on its fused kernel (4-D/5-D inputs, channels on axis 1
        or last, float32/float16 weights, not synchronized)."""
        return (
            self.keras_version < 3
            and not self.synchronized
            and dtype in (torch.float32, torch.float16, torch.bfloat16)
            and ((ndim == 4 and axis in (1, 3)) or (ndim == 5 and axis in (1, 4)))
        )

    def _update_moving_fused(self, mean: Tensor, variance: Tensor) -> None:
        factor = float(np.float32(1.0 - self.momentum))  # the op's float exponential_avg_factor
        with torch.no_grad():
            for moving, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.copy_(value * factor + moving * (1.0 - factor))

    def _update_moving(self, mean: Tensor, variance: Tensor) -> None:
        # tf-keras makes ``1 - momentum`` a float32 tensor before casting it to the variable's
        # dtype, so a float64 layer decays by float32(1 - momentum).
        decay = float(np.float32(1.0 - self.momentum))
        with torch.no_grad():
            for moving, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                if self.keras_version >= 3:
                    moving.copy_(moving * self.momentum + value * (1.0 - self.momentum))
                else:
                    moving.sub_((moving - value) * decay)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        shape = loaded_shape(state_dict, prefix + "moving_mean")  # None: absent or unbuilt
        if not self.built and shape is not None:
            self.build(shape[0])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class LayerNormalization(_TensorListWeights, KerasLayer):
    """Keras ``LayerNormalization`` over ``axis`` (one axis or several) of each sample.

    gamma/beta have the shape of the normalized axes (in the order given; Keras 3 sorts them).
    In float32 with trailing contiguous axes and ``epsilon >= 1.001e-5`` tf-keras computes
    ``(x - mean) * rsqrt(var + eps) * gamma + beta`` (its fused path), otherwise
    ``x * inv + (beta - mean * inv)`` with ``inv = rsqrt(var + eps) * gamma``; this layer does the
    same. Keras 3's deprecated ``rms_scaling=True`` computes ``x * rsqrt(var + eps) * gamma``
    (no centering, no beta). Masks pass through unchanged.

    >>> import torch
    >>> ln = LayerNormalization(epsilon=1e-6)
    >>> y = ln(torch.tensor([[1.0, 2.0, 3.0]]))
    >>> [round(v, 4) for v in y.flatten().tolist()], ln.count_params()
    ([-1.2247, 0.0, 1.2247], 6)
    """

    keras_class = "LayerNormalization"
    supports_masking = True
    _dtype_ref: Tensor

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        *,
        rms_scaling: bool = False,
        beta_initializer: _initializers.InitializerLike = "zeros",
        gamma_initializer: _initializers.InitializerLike = "ones",
        param_shape: Sequence[int] | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        axes = list(axis) if isinstance(axis, Sequence) and not isinstance(axis, str) else [axis]
        if not axes or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes
        ):
            raise ValueError(
                f"{kind}: axis must be an integer or a non-empty list of integers, got {axis!r}"
            )
        self.axis = [int(a) for a in axes]
        if keras_version >= 3:
            self.axis = sorted(self.axis)
        self.epsilon = float(epsilon)
        self.rms_scaling = bool(rms_scaling)
        self.center = bool(center) and not self.rms_scaling
        self.scale = bool(scale) or self.rms_scaling
        self.keras_version = int(keras_version)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        factory = {"device": device, "dtype": dtype}
        self.param_shape: tuple[int, ...] | None = None
        _dtype_buffer(self, device, dtype)
        self.gamma = nn.UninitializedParameter(**factory) if self.scale else None
        self.beta = nn.UninitializedParameter(**factory) if self.center else None
        if param_shape is not None:
            self.build(tuple(_positive_int("param_shape", d, kind) for d in param_shape))

    size_attr = "param_shape"
    size_what = "normalized shape"

    def _materialize(self, param_shape: tuple[int, ...]) -> None:
        param_shape = tuple(int(d) for d in param_shape)
        if len(param_shape) != len(self.axis):
            raise ValueError(
                f"{type(self).__name__}: param_shape {param_shape} must have one size per axis "
                f"{self.axis}"
            )
        with torch.no_grad():
            for t in self._tensors():
                t.materialize(param_shape)  # type: ignore[attr-defined]
        self.param_shape = param_shape

    def _tensors(self) -> list[Tensor]:
        return [t for t in (self.gamma, self.beta) if t is not None]

    def reset_parameters(self) -> None:
        """Initialize gamma and beta with the Keras initializers."""
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet (call it once or set weights)"
            )
        inits = ([self.gamma_initializer] if self.scale else []) + (
            [self.beta_initializer] if self.center else []
        )
        self._assign(
            [
                init(torch.empty(t.shape, dtype=t.dtype, device=t.device))
                for t, init in zip(self._tensors(), inits, strict=True)
            ]
        )

    def built_config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this layer as it is now (size and dtype)."""
        return {"param_shape": self.param_shape, "dtype": self._dtype_ref.dtype}

    def extra_repr(self) -> str:
        return (
            f"param_shape={self.param_shape}, axis={self.axis}, epsilon={self.epsilon}, "
            f"center={self.center}, scale={self.scale}"
            + (", rms_scaling=True" if self.rms_scaling else "")
        )

    def keras_weight_shapes(
        self, param_shape: tuple[int, ...] | None = None
    ) -> list[tuple[int, ...]]:
        shape = self.param_shape if param_shape is None else param_shape
        n = len(self._tensors())
        if shape is None:
            if n == 0:
                return []
            raise RuntimeError(
                f"{type(self).__name__} is not built yet: its weight shapes depend on the input"
            )
        return [tuple(shape)] * n

    def get_keras_weights(self) -> list[np.ndarray]:
        """``[gamma (if scale), beta (if center)]``."""
        return [_numpy(t) for t in self._tensors()] if self.built else []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        tensors = self._tensors()
        shape = self.param_shape
        if shape is None and tensors:
            shape = _weight_shape(weights, 0, len(self.axis)) or (1,) * len(self.axis)
        ref = tensors[0] if tensors else self._dtype_ref
        dtype, device = ref.dtype, ref.device
        arrays = check_weights(label, weights, self.keras_weight_shapes(shape), dtype, device)
        if not tensors:
            return
        if not self.built:
            self.build(shape, initialize=False)  # type: ignore[arg-type]
        self._assign(arrays)


    def keras_param_counts(self) -> tuple[int, int]:
        if not self.built:
            return 0, 0
        return super().keras_param_counts()

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = _check_tensor(self, inputs, 1)
        ndim = x.dim()
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"{type(self).__name__}: axis {a} is out of range for an input of shape "
                    f"{tuple(x.shape)}"
                )
        axes = [a % ndim for a in self.axis]
        if len(set(axes)) != len(axes):
            raise ValueError(
                f"{type(self).__name__}: duplicate axes {self.axis} for an input of rank {ndim}"
            )
        tensors = self._tensors()
        if tensors:
            shape = tuple(int(x.shape[a]) for a in axes)
            if self.built and shape != self.param_shape:
                raise ValueError(
                    f"{type(self).__name__} expects normalized axes {self.axis} of sizes "
                    f"{self.param_shape}, "
                    f"got {shape} in input of shape {tuple(x.shape)}"
                )
            if not self.built:
                self.build(shape)
            x = _cast(self, x, tensors[0])
        else:
            x = _cast(self, x, self._dtype_ref)
        bshape = [1] * ndim
        for a in axes:
            bshape[a] = x.shape[a]
        gamma = self.gamma.reshape(bshape) if self.gamma is not None else None
        beta = self.beta.reshape(bshape) if self.beta is not None else None
        mean = x.mean(axes, keepdim=True)
        variance = (x - mean).square().mean(axes, keepdim=True)
        if self.rms_scaling:
            out = x * torch.rsqrt(variance + self.epsilon)
            return out * gamma if gamma is not None else out
        srt = sorted(axes)
        fused = (
            self.keras_version < 3
            and x.dtype == torch.float32
            and self.epsilon >= 1.001e-5
            and srt[-1] == ndim - 1
            and srt[-1] - srt[0] == len(srt) - 1
        )
        if fused:
            out = (x - mean) * torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                out = out * gamma
            return out + beta if beta is not None else out
        inv = torch.rsqrt(variance + self.epsilon)
        if gamma is not None:
            inv = inv * gamma
        offset = beta - mean * inv if beta is not None else -mean * inv
        return x * inv + offset

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in (prefix + "gamma", prefix + "beta"):
            shape = loaded_shape(state_dict, key)  # None: absent or unbuilt
            if not self.built and shape is not None and self._tensors():
                self.build(shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


# ---- TimeDistributed ----------------------------------------------------------------------------


class TimeDistributed(KerasLayer):
    """Keras ``TimeDistributed``: applies ``layer`` to every time step of a
    ``(batch, time, ...)`` input by folding time into the batch (as tf-keras does for built-in
    layers). A ``(batch, time, ...)`` mask is folded the same way and given to a wrapped
    :class:`KerasLayer`. Keras 3 calls the layer once per step instead; the only layer where
    that differs is a BatchNormalization using batch statistics (statistics per step and one
    moving-average update per step), which this wrapper reproduces for ``keras_version=3``.

    The weights are the wrapped layer's. The output mask follows tf-keras: the wrapped layer's
    mask for the folded input, unfolded, or else the input mask reduced to (batch, time).

    >>> import torch
    >>> td = TimeDistributed(Conv1D(2, 3))
    >>> tuple(td(torch.zeros(4, 5, 6, 3)).shape), td.count_params()
    ((4, 5, 4, 2), 20)
    """

    keras_class = "TimeDistributed"
    supports_masking = True

    def __init__(
        self, layer: nn.Module, *, keras_version: int = 3, name: str | None = None
    ) -> None:
        super().__init__(name)
        if not isinstance(layer, nn.Module):
            raise TypeError(f"TimeDistributed wraps a torch module, got {type(layer).__name__}")
        if getattr(layer, "stateful", False):
            raise ValueError(
                "TimeDistributed cannot wrap a stateful layer (Keras runs those step by step)"
            )
        self.layer = layer
        self.keras_version = int(keras_version)

    def _fold(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Any:
        x = _check_tensor(self, inputs, 3)
        batch, steps = x.shape[0], x.shape[1]
        m = None
        if mask is not None:
            m = _bool_mask(mask, x.device)
            if m.dim() < 2 or tuple(m.shape[:2]) != (batch, steps):
                raise ValueError(
                    f"TimeDistributed: mask shape {tuple(m.shape)} must start with the input's "
                    f"(batch, time) = ({batch}, {steps})"
                )
        kwargs: dict[str, Any] = {}
        if training is not None:
            kwargs["training"] = training
        takes_mask = isinstance(self.layer, KerasLayer)
        per_step = getattr(self.layer, "uses_batch_statistics", None)
        if self.keras_version >= 3 and callable(per_step) and per_step(training):
            outs = []
            for t in range(steps):
                kw = dict(kwargs)
                if takes_mask and m is not None:
                    kw["mask"] = m[:, t]
                outs.append(self.layer(x[:, t], **kw))
            return _map(lambda *ys: torch.stack(ys, 1), *outs)
        if takes_mask and m is not None:
            kwargs["mask"] = self._fold(m)
        y = self.layer(self._fold(x), **kwargs)
        return _map(lambda t: t.reshape(batch, steps, *t.shape[1:]), y)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not isinstance(inputs, Tensor) or inputs.dim() < 2:
            return mask
        batch, steps = inputs.shape[0], inputs.shape[1]
        inner_mask = None
        if mask is not None:
            mask = _bool_mask(mask, inputs.device)
            inner_mask = self._fold(mask)
        fn = getattr(self.layer, "compute_mask", None)
        out = fn(self._fold(inputs), inner_mask) if callable(fn) else None
        if isinstance(out, (list, tuple)):
            out = out[0] if out else None
        if out is None:
            if mask is None:
                return None
            while mask.dim() > 2:
                mask = mask.any(-1)
            return mask
        return out.reshape(batch, steps, *out.shape[1:])

    # ---- weights are the wrapped layer's --------------------------------------------------------

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return list(self.layer.keras_weight_shapes())  # type: ignore[operator]

    def get_keras_weights(self) -> list[np.ndarray]:
        return list(self.layer.get_keras_weights())  # type: ignore[operator]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        self.layer.set_keras_weights(weights)  # type: ignore[operator]

    def keras_gradients(self) -> list[Tensor | None]:
        fn = getattr(self.layer, "keras_gradients", None)
        if callable(fn):
            return list(fn())
        cell = getattr(self.layer, "cell", None)
        return list(cell.keras_gradients()) if cell is not None else []

    def keras_param_counts(self) -> tuple[int, int]:
        fn = getattr(self.layer, "keras_param_counts", None)
        if callable(fn):
            return tuple(fn())
        fn = getattr(self.layer, "count_params", None)
        return (int(fn()), 0) if callable(fn) else (0, 0)


def _map(fn: Any, *values: Any) -> Any:
    first = values[0]
    if isinstance(first, (list, tuple)):
        return type(first)(_map(fn, *parts) for parts in zip(*values, strict=True))
    if first is None:
        return None
    return fn(*values)


# ---- converters ---------------------------------------------------------------------------------

def _padding(config: dict, kind: str, value: Any, allowed: tuple[str, ...]) -> str:
    p = str(value).lower()
    if p not in allowed:
        raise unsupported(config, kind, "padding", value, "expected one of " + ", ".join(allowed))
    return p


def _fmt(config: dict, kind: str, value: Any) -> str:
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise unsupported(config, kind, "data_format", value)
    return fmt


def _one(config: dict, kind: str, key: str, value: Any) -> int:
    try:
        return _positive_int(key, value, kind)
    except ValueError:
        raise unsupported(config, kind, key, value, "expected one positive integer") from None


_CONV_KEYS = {
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "groups",
    "activation",
    "use_bias",
    "kernel_initializer",
    "bias_initializer",
    "lora_rank",
    "lora_alpha",
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
        raise unsupported(config, kind, "lora_rank", o["lora_rank"], "LoRA adds weights")
    for key in ("filters", "kernel_size"):
        if key not in o:
            raise UnsupportedLayerError(f"{kind} layer {config.get('name', '?')!r} has no {key!r}")
    filters, kernel = _one(config, kind, "filters", o["filters"]), _one(
        config, kind, "kernel_size", o["kernel_size"]
    )
    strides = _one(config, kind, "strides", o.get("strides", 1))
    dilation = _one(config, kind, "dilation_rate", o.get("dilation_rate", 1))
    groups = _one(config, kind, "groups", o.get("groups") or 1)
    try:
        return Conv1D(
            filters,
            kernel,
            strides=strides,
            dilation_rate=dilation,
            groups=groups,
            padding=_padding(config, kind, o.get("padding", "valid"), ("valid", "same", "causal")),
            data_format=_fmt(config, kind, o.get("data_format")),
            activation=o.get("activation"),
            use_bias=o.get("use_bias", True),
            kernel_initializer=o.get("kernel_initializer", "glorot_uniform"),
            bias_initializer=o.get("bias_initializer", "zeros"),
            keras_version=ctx.keras_version,
            name=config.get("name"),
            dtype=config_dtype(config, ctx),
        )
    except ValueError as e:
        if isinstance(e, UnsupportedLayerError):
            raise
        raise UnsupportedLayerError(f"{kind} layer {config.get('name', '?')!r}: {e}") from None


_POOL_KEYS = {"pool_size", "strides", "padding", "data_format"}
_POOL_RENAMES = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}


def _pooling(cls: type[_Pooling1D], config: dict, ctx: ConvertContext) -> nn.Module:
    kind = cls.keras_class
    o = options(kind, config, _POOL_KEYS, _POOL_RENAMES)
    pool = _one(config, kind, "pool_size", o.get("pool_size", 2))
    strides = o.get("strides")
    return cls(
        pool,
        None if strides is None else _one(config, kind, "strides", strides),
        padding=_padding(config, kind, o.get("padding", "valid"), ("valid", "same")),
        data_format=_fmt(config, kind, o.get("data_format")),
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )


@register("MaxPooling1D", "MaxPool1D")
def _max_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(MaxPooling1D, config, ctx)


@register("AveragePooling1D", "AvgPool1D")
def _average_pooling1d(config: dict, ctx: ConvertContext) -> nn.Module:
    return _pooling(AveragePooling1D, config, ctx)


def _global_pooling(cls: type[_GlobalPooling1D], config: dict, ctx: ConvertContext) -> nn.Module:
    kind = cls.keras_class
    o = options(kind, config, {"data_format", "keepdims"})
    return cls(
        _fmt(config, kind, o.get("data_format")),
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


_BN_KEYS = {
    "axis",
    "momentum",
    "epsilon",
    "center",
    "scale",
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "synchronized",
    "renorm",
    "renorm_clipping",
    "renorm_momentum",
    "virtual_batch_size",
    "fused",
    "mode",
    "trainable",
}
_BN_RENAMES = {"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"}


def _axis_list(config: dict, kind: str, value: Any) -> list[int]:
    axes = (
        list(value)
        if not isinstance(value, (int, np.integer, str)) and value is not None
        else [value]
    )
    if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise unsupported(config, kind, "axis", value)
    return [int(a) for a in axes]  # type: ignore[arg-type]


@register("BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2")
def _batch_normalization(config: dict, ctx: ConvertContext) -> nn.Module:
    return _batch_norm(config, ctx, synchronized=False)


@register("SyncBatchNormalization")
def _sync_batch_normalization(config: dict, ctx: ConvertContext) -> nn.Module:
    return _batch_norm(config, ctx, synchronized=True)


def _batch_norm(config: dict, ctx: ConvertContext, synchronized: bool) -> nn.Module:
    kind = "BatchNormalization"
    o = options(kind, config, _BN_KEYS, _BN_RENAMES)
    if o.get("renorm"):
        raise unsupported(config, kind, "renorm", o["renorm"], "batch renormalization")
    if o.get("virtual_batch_size") is not None:
        raise unsupported(
            config, kind, "virtual_batch_size", o["virtual_batch_size"], "ghost batch normalization"
        )
    if o.get("mode", 0) != 0:
        raise unsupported(
            config, kind, "mode", o["mode"], "Keras 1 modes 1 and 2 normalize differently"
        )
    axes = _axis_list(config, kind, o.get("axis", -1))
    if len(axes) != 1:
        raise unsupported(config, kind, "axis", axes, "only one normalized axis")
    return BatchNormalization(
        axes[0],
        float(o.get("momentum", 0.99)),
        float(o.get("epsilon", 1e-3)),
        bool(o.get("center", True)),
        bool(o.get("scale", True)),
        beta_initializer=o.get("beta_initializer", "zeros"),
        gamma_initializer=o.get("gamma_initializer", "ones"),
        moving_mean_initializer=o.get("moving_mean_initializer", "zeros"),
        moving_variance_initializer=o.get("moving_variance_initializer", "ones"),
        synchronized=bool(o.get("synchronized", synchronized)),
        trainable=bool(o.get("trainable", True)),
        keras_version=ctx.keras_version,
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )


@register("LayerNormalization")
def _layer_normalization(config: dict, ctx: ConvertContext) -> nn.Module:
    kind = "LayerNormalization"
    o = options(
        kind,
        config,
        {
            "axis",
            "epsilon",
            "center",
            "scale",
            "rms_scaling",
            "beta_initializer",
            "gamma_initializer",
        },
    )
    return LayerNormalization(
        _axis_list(config, kind, o.get("axis", -1)),
        float(o.get("epsilon", 1e-3)),
        bool(o.get("center", True)),
        bool(o.get("scale", True)),
        rms_scaling=bool(o.get("rms_scaling", False)),
        beta_initializer=o.get("beta_initializer", "zeros"),
        gamma_initializer=o.get("gamma_initializer", "ones"),
        keras_version=ctx.keras_version,
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )


@register("TimeDistributed")
def _time_distributed(config: dict, ctx: ConvertContext) -> nn.Module:
    kind = "TimeDistributed"
    o = options(kind, config, {"layer"})
    inner = o.get("layer")
    if not isinstance(inner, dict) or "class_name" not in inner:
        raise UnsupportedLayerError(
            f"{kind} layer {config.get('name', '?')!r} has no wrapped layer config"
        )
    module = convert_layer(inner["class_name"], inner.get("config") or {}, ctx)
    if getattr(module, "stateful", False):
        raise unsupported(config, kind, "layer", inner["class_name"], "a stateful wrapped layer")
    return TimeDistributed(module, keras_version=ctx.keras_version, name=config.get("name"))
