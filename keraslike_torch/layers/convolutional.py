"""Keras ``Conv1D`` / ``Conv2D`` / ``Conv3D``, their N-d base, and the window arithmetic shared
with the poolings and the other convolutions (:mod:`.depthwise_separable`, :mod:`.conv_transpose`).

The convolutions compute exactly what Keras computes (TensorFlow's possibly asymmetric
``"same"`` padding, ``"causal"`` padding, dilation, groups) and keep Keras's weight order and
shapes in ``get_keras_weights`` / ``set_keras_weights``; masks are dropped, as in Keras. Their
converters are in :mod:`keraslike_torch.converters`.

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

__all__ = [
    "ConvBase", "Conv1D", "Conv2D", "Conv3D", "same_padding", "conv_output_length",
    "window_padding", "kernel_to_torch", "kernel_to_keras",
]


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


def as_tuple(value: int | Sequence[int]) -> tuple[int, ...]:
    """A size option as a tuple (rank-1 layers keep plain ints, as 0.1 did)."""
    return (int(value),) if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)


def window_padding(
    x: Tensor, kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int], padding: str
) -> tuple[Tensor, tuple[int, ...]]:
    """``x`` (channels first) and the symmetric padding to give ``F.conv*d`` for ``padding``:
    an asymmetric ``"same"`` (the odd element on the right, as TensorFlow) or ``"causal"``
    (all on the left) padding is applied to ``x`` itself.

    >>> x, pad = window_padding(torch.zeros(1, 2, 6, 5), (3, 4), (1, 1), (1, 1), "same")
    >>> tuple(x.shape), pad
    ((1, 2, 8, 8), (0, 0))
    """
    sizes = x.shape[2:]
    if padding == "same":
        pads = [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilation)]
    elif padding == "causal":
        pads = [(d * (k - 1), 0) for k, d in zip(kernel, dilation)]
    else:
        pads = [(0, 0)] * len(sizes)
    if all(left == right for left, right in pads):
        return x, tuple(left for left, _ in pads)
    return F.pad(x, [v for pair in reversed(pads) for v in pair]), (0,) * len(pads)


def kernel_to_torch(kernel: Tensor, rank: int) -> Tensor:
    """A Keras kernel ``(*k, a, b)`` as torch's ``(b, a, *k)`` (convolutions: ``a`` inputs per
    group, ``b`` filters; transposed convolutions: ``a`` filters, ``b`` inputs)."""
    return kernel.permute(rank + 1, rank, *range(rank))


def kernel_to_keras(weight: Tensor, rank: int) -> Tensor:
    """The inverse of :func:`kernel_to_torch`."""
    return weight.permute(*range(2, rank + 2), 1, 0)


class ConvBase(LazyBuild, KerasLayer):
    """What every convolution shares: size options (a plain int per option for rank 1, a tuple of
    ``rank`` ints otherwise), padding and data_format checks, the channels-first layout of the
    computation (more leading batch dimensions are folded, as in tf-keras), lazy sizing from the
    first input, the weights or a state dict, and Keras-order weights. A family names its torch
    kernel parameters (``kernels``, in Keras's order; a ``bias`` follows) and gives their layout
    (``_to_torch`` / ``_to_keras``), Keras shapes and initializers, and ``_convolve``."""

    rank = 1
    paddings: tuple[str, ...] = ("valid", "same")
    kernels: tuple[str, ...] = ("weight",)
    size_what = "input channels"

    def _setup(self, kernel_size: Any, strides: Any, padding: str, data_format: str | None,
               dilation_rate: Any, activation: Any, use_bias: bool, keras_version: int,
               strided_dilation: bool = False) -> None:
        kind = type(self).__name__
        self.kernel_size = self._sizes("kernel_size", kernel_size)
        self.strides = self._sizes("strides", strides)
        self.dilation_rate = self._sizes("dilation_rate", dilation_rate)
        self.padding = str(padding).lower()
        if self.padding not in self.paddings:
            allowed = ", ".join(repr(p) for p in self.paddings)
            raise ValueError(f"{kind}: padding must be one of {allowed}, got {padding!r}")
        self.data_format = check_data_format(data_format, kind)
        if not strided_dilation and max(as_tuple(self.strides)) > 1 and max(as_tuple(self.dilation_rate)) > 1:
            raise ValueError(
                f"{kind}: strides > 1 is not supported with dilation_rate > 1 (as in Keras)"
            )
        self.activation = _activations.get(activation, keras_version)
        self.use_bias = bool(use_bias)
        self.input_size: int | None = None

    def _sizes(self, what: str, value: Any, allow_zero: bool = False) -> Any:
        kind = type(self).__name__
        if self.rank == 1:
            return positive_int(f"{kind}: {what}", value, allow_zero, single=True)
        items = list(value) if isinstance(value, (list, tuple)) else [value] * self.rank
        if len(items) != self.rank:
            raise ValueError(f"{kind}: {what} must be one integer or {self.rank}, got {value!r}")
        return tuple(positive_int(f"{kind}: {what}", v, allow_zero) for v in items)

    def _lazy_parameters(self, bias_size: int | None, factory: dict[str, Any]) -> None:
        for name in self.kernels:
            setattr(self, name, nn.UninitializedParameter(**factory))
        self.bias: nn.Parameter | None
        if not self.use_bias:
            self.register_parameter("bias", None)
        elif bias_size is None:
            self.bias = nn.UninitializedParameter(**factory)  # type: ignore[assignment]
        else:
            self.bias = nn.Parameter(torch.empty(bias_size, **factory))

    # ---- what a family defines --------------------------------------------------------------------

    def _kernel_shapes(self, channels: int) -> list[tuple[int, ...]]:
        raise NotImplementedError

    def _bias_size(self, channels: int) -> int:
        return int(self.filters)  # type: ignore[arg-type]

    def _initializers(self) -> list[Any]:
        return [self.kernel_initializer]  # type: ignore[attr-defined]

    def _channels_from_keras(self, shape: tuple[int, ...]) -> int:
        return shape[-2]

    def _channels_from_torch(self, shape: tuple[int, ...]) -> int:
        return shape[1]

    def _to_torch(self, index: int, kernel: Tensor) -> Tensor:
        return kernel_to_torch(kernel, self.rank)

    def _to_keras(self, index: int, weight: Tensor) -> Tensor:
        return kernel_to_keras(weight, self.rank)

    def _check_channels(self, channels: int) -> None:
        pass

    def _convolve(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    # ---- sizing -----------------------------------------------------------------------------------

    @property
    def _ref(self) -> Tensor:
        return getattr(self, self.kernels[0])  # type: ignore[no-any-return]

    def _materialize(self, input_size: int) -> None:
        self._check_channels(input_size)
        with torch.no_grad():
            for i, (name, shape) in enumerate(zip(self.kernels, self._kernel_shapes(input_size))):
                getattr(self, name).materialize(self._to_torch(i, torch.empty(shape, device="meta")).shape)
            if self.bias is not None and nn.parameter.is_lazy(self.bias):
                self.bias.materialize((self._bias_size(input_size),))
        self.input_size = int(input_size)

    def reset_parameters(self) -> None:
        """Draw fresh weights with the Keras initializers, in Keras's shapes."""
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet (call it once or set weights)"
            )
        w = self._ref
        make: dict[str, Any] = {"dtype": w.dtype, "device": w.device}
        shapes = self.keras_weight_shapes()
        inits = self._initializers() + ([self.bias_initializer] if self.use_bias else [])  # type: ignore[attr-defined]
        self._assign([init(torch.empty(s, **make)) for init, s in zip(inits, shapes)])

    def built_config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this layer as it is now (size and dtype)."""
        return {"input_size": self.input_size, "dtype": self._ref.dtype}

    def extra_repr(self) -> str:
        first = (f"filters={self.filters}, " if hasattr(self, "filters") else "")  # type: ignore[attr-defined]
        if hasattr(self, "depth_multiplier"):
            first += f"depth_multiplier={self.depth_multiplier}, "  # type: ignore[attr-defined]
        return (
            f"{first}kernel_size={self.kernel_size}, strides={self.strides}, "
            f"padding={self.padding!r}, dilation_rate={self.dilation_rate}, "
            + (f"groups={self.groups}, " if hasattr(self, "groups") else "")  # type: ignore[attr-defined]
            + f"activation={self.activation.name}, use_bias={self.use_bias}, "
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
        shapes = self._kernel_shapes(d)
        if self.use_bias:
            shapes.append((self._bias_size(d),))
        return shapes

    def get_keras_weights(self) -> list[np.ndarray]:
        """The arrays of Keras ``get_weights()``, in its order and shapes."""
        if not self.built:
            return []
        out = [numpy(self._to_keras(i, getattr(self, n))) for i, n in enumerate(self.kernels)]
        if self.bias is not None:
            out.append(numpy(self.bias))
        return out

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        size = self.input_size
        if size is None:
            shape = weight_shape(weights, 0, self.rank + 2)
            size = self._channels_from_keras(shape) if shape is not None else 1
        w = self._ref
        arrays = check_weights(label, weights, self.keras_weight_shapes(size), w.dtype, w.device)
        if not self.built:
            self.build(size, initialize=False)
        self._assign(arrays)

    def _assign(self, arrays: Sequence[Tensor]) -> None:
        with torch.no_grad():
            for i, name in enumerate(self.kernels):
                getattr(self, name).copy_(self._to_torch(i, arrays[i]))
            if self.bias is not None:
                self.bias.copy_(arrays[len(self.kernels)])

    def keras_gradients(self) -> list[Tensor | None]:
        grads = [getattr(self, n).grad for n in self.kernels]
        out: list[Tensor | None] = [None if g is None else self._to_keras(i, g) for i, g in enumerate(grads)]
        if self.bias is not None:
            out.append(self.bias.grad)
        return out

    def keras_param_counts(self) -> tuple[int, int]:
        if not self.built:
            return 0, 0
        return super().keras_param_counts()

    # ---- forward ------------------------------------------------------------------------------

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        r = self.rank
        x = check_tensor(self, inputs, r + 2)
        channels_last = self.data_format == "channels_last"
        channels = x.shape[-1] if channels_last else x.shape[-r - 1]
        if self.built and channels != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects {self.input_size} input channels, got {channels} "
                f"in input of shape {tuple(x.shape)}"
            )
        if not self.built:
            self.build(int(channels))
        x = cast_like(self, x, self._ref)
        lead = x.shape[: -r - 1]
        x = x.flatten(0, x.dim() - r - 2)
        if channels_last:
            x = x.movedim(-1, 1)
        self._check_length(x.shape[2:])
        y = self._convolve(x)
        if channels_last:
            y = y.movedim(1, -1)
        y = self.activation(y)
        return y.reshape(*lead, *y.shape[1:])

    def _check_length(self, sizes: Sequence[int]) -> None:
        kernel, strides, dilation = (as_tuple(v) for v in (self.kernel_size, self.strides, self.dilation_rate))
        for n, k, s, d in zip(sizes, kernel, strides, dilation):
            if conv_output_length(n, k, self.padding, s, d) <= 0:
                raise ValueError(
                    f"{type(self).__name__}: an input of {n} steps is too short for kernel_size="
                    f"{self.kernel_size}, dilation_rate={self.dilation_rate} with padding='valid'"
                )

    def _window(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        return window_padding(x, as_tuple(self.kernel_size), as_tuple(self.strides),
                              as_tuple(self.dilation_rate), self.padding)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        shape = loaded_shape(state_dict, prefix + self.kernels[0])  # None: absent or unbuilt
        if not self.built and shape is not None:
            self.build(self._channels_from_torch(shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


CONV_OPS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class _Conv(ConvBase):
    """Keras ``Conv1D`` / ``Conv2D`` / ``Conv3D``. Keras's kernel ``(*kernel_size, channels //
    groups, filters)`` is stored as torch's ``weight`` ``(filters, channels // groups,
    *kernel_size)``."""

    weight: Tensor  # registered in _lazy_parameters (declared here for type checkers)

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
        self.groups = positive_int(f"{kind}: groups", groups, single=True)
        if self.filters % self.groups:
            raise ValueError(
                f"{kind}: filters ({self.filters}) must be divisible by groups ({self.groups})"
            )
        self._setup(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                    keras_version)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self._lazy_parameters(self.filters, {"device": device, "dtype": dtype})
        if input_size is not None:
            self.build(positive_int(f"{kind}: input_size", input_size, single=True))

    def _check_channels(self, channels: int) -> None:
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__}: input channels ({channels}) must be divisible by groups "
                f"({self.groups})"
            )

    def _kernel_shapes(self, channels: int) -> list[tuple[int, ...]]:
        return [(*as_tuple(self.kernel_size), channels // self.groups, self.filters)]

    def _channels_from_keras(self, shape: tuple[int, ...]) -> int:
        return shape[-2] * self.groups

    def _channels_from_torch(self, shape: tuple[int, ...]) -> int:
        return shape[1] * self.groups

    def _convolve(self, x: Tensor) -> Tensor:
        x, pad = self._window(x)
        return CONV_OPS[self.rank](x, self.weight, self.bias, as_tuple(self.strides), pad,
                                    as_tuple(self.dilation_rate), self.groups)


class Conv1D(_Conv):
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
    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """Keras ``Conv2D`` (``Convolution2D``): input ``(batch, rows, cols, channels)`` (or
    channels first), ``"valid"`` or TensorFlow's ``"same"`` padding, strides, dilation, groups;
    the size options are one int or a pair. Kernel ``(kh, kw, channels // groups, filters)``.

    >>> import torch
    >>> conv = Conv2D(4, (3, 2), strides=2, padding="same")
    >>> tuple(conv(torch.zeros(2, 7, 6, 3)).shape), conv.kernel_size, conv.count_params()
    ((2, 4, 3, 4), (3, 2), 76)
    """

    keras_class = "Conv2D"
    rank = 2


class Conv3D(_Conv):
    """Keras ``Conv3D`` (``Convolution3D``): input ``(batch, d1, d2, d3, channels)`` (or channels
    first), as :class:`Conv2D` with three spatial axes. Kernel ``(k1, k2, k3, channels // groups,
    filters)``.

    >>> import torch
    >>> tuple(Conv3D(2, 3, padding="same")(torch.zeros(1, 4, 5, 6, 3)).shape)
    (1, 4, 5, 6, 2)
    """

    keras_class = "Conv3D"
    rank = 3
