"""Keras ``Conv1DTranspose`` / ``Conv2DTranspose`` / ``Conv3DTranspose`` on the N-d
:class:`~keraslike_torch.layers.convolutional.ConvBase`.

The output size follows Keras (:func:`deconv_output_length`, the same in both generations), and
the placement TensorFlow's ``conv_transpose`` gives it: the full transposed convolution
``(n - 1) * stride + dilated kernel`` long, cropped from the left by the ``"same"`` padding
TensorFlow's forward convolution of that output size would use (the odd element on the right)
and cut or zero-extended on the right to the output size; the bias is added after. Keras's kernel
``(*kernel_size, filters, channels)`` is torch's ``conv_transpose`` ``weight`` ``(channels,
filters, *kernel_size)``. Their converters are in :mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import Conv2DTranspose
>>> up = Conv2DTranspose(4, 3, strides=2, padding="same")
>>> tuple(up(torch.zeros(2, 5, 6, 3)).shape), [w.shape for w in up.get_keras_weights()]
((2, 10, 12, 4), [(3, 3, 4, 3), (4,)])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import activations as _activations
from .. import initializers as _initializers
from ._checks import positive_int
from .convolutional import ConvBase, as_tuple

__all__ = ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "deconv_output_length"]

_TRANSPOSE_OPS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def deconv_output_length(
    length: int, kernel: int, padding: str, output_padding: int | None = None, stride: int = 1,
    dilation: int = 1,
) -> int:
    """Output steps of a transposed convolution, as Keras computes them
    (``conv_utils.deconv_output_length``; Keras 3's TensorFlow padding rule agrees).

    >>> deconv_output_length(5, 3, "same", stride=2), deconv_output_length(5, 3, "valid", stride=2)
    (10, 11)
    >>> deconv_output_length(5, 4, "same", output_padding=1, stride=2)
    9
    """
    effective = (kernel - 1) * dilation + 1
    if output_padding is None:
        return length * stride + (max(effective - stride, 0) if padding == "valid" else 0)
    pad = effective // 2 if padding == "same" else 0
    return (length - 1) * stride + effective - 2 * pad + output_padding


def _take(y: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``y[start:start + length]`` along ``dim``, zero-extended on the right where it runs out."""
    have = min(length, y.shape[dim] - start)
    y = y.narrow(dim, start, have)
    if have == length:
        return y
    pad = [0] * (2 * (y.dim() - 2))
    pad[2 * (y.dim() - 1 - dim) + 1] = length - have
    return F.pad(y, pad)


class _ConvTranspose(ConvBase):
    """Keras ``Conv1DTranspose`` / ``Conv2DTranspose`` / ``Conv3DTranspose``."""

    weight: Tensor  # registered in _lazy_parameters (declared here for type checkers)

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        output_padding: int | Sequence[int] | None = None,
        data_format: str | None = "channels_last",
        dilation_rate: int | Sequence[int] = 1,
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
        self._setup(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                    keras_version)
        self.output_padding = (
            None if output_padding is None else self._sizes("output_padding", output_padding, True)
        )
        if self.output_padding is not None:
            for op, s in zip(as_tuple(self.output_padding), as_tuple(self.strides)):
                if op >= s:
                    raise ValueError(
                        f"{kind}: output_padding ({self.output_padding}) must be less than strides "
                        f"({self.strides}) in every dimension (as in Keras)"
                    )
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self._lazy_parameters(self.filters, {"device": device, "dtype": dtype})
        if input_size is not None:
            self.build(positive_int(f"{kind}: input_size", input_size, single=True))

    def _kernel_shapes(self, channels: int) -> list[tuple[int, ...]]:
        return [(*as_tuple(self.kernel_size), self.filters, channels)]

    def _channels_from_keras(self, shape: tuple[int, ...]) -> int:
        return shape[-1]

    def _channels_from_torch(self, shape: tuple[int, ...]) -> int:
        return shape[0]

    def _check_length(self, sizes: Sequence[int]) -> None:
        pass  # any input length has an output

    def output_lengths(self, sizes: Sequence[int]) -> tuple[int, ...]:
        """The spatial output size for an input of spatial size ``sizes``."""
        r = self.rank
        ops = (None,) * r if self.output_padding is None else as_tuple(self.output_padding)
        return tuple(
            deconv_output_length(n, k, self.padding, op, s, d)
            for n, k, op, s, d in zip(sizes, as_tuple(self.kernel_size), ops, as_tuple(self.strides),
                                      as_tuple(self.dilation_rate))
        )

    def _convolve(self, x: Tensor) -> Tensor:
        strides, dilation = as_tuple(self.strides), as_tuple(self.dilation_rate)
        y = _TRANSPOSE_OPS[self.rank](x, self.weight, None, strides, 0, 0, 1, dilation)
        for i, length in enumerate(self.output_lengths(x.shape[2:])):
            start = 0
            if self.padding == "same":  # TensorFlow's forward "SAME" padding for this output size
                s, eff = strides[i], (as_tuple(self.kernel_size)[i] - 1) * dilation[i] + 1
                start = max((-(-length // s) - 1) * s + eff - length, 0) // 2
            y = _take(y, 2 + i, start, length)
        if self.bias is not None:
            y = y + self.bias.reshape(-1, *(1,) * self.rank)
        return y

    def extra_repr(self) -> str:
        return super().extra_repr() + (
            f", output_padding={self.output_padding}" if self.output_padding is not None else ""
        )


class Conv1DTranspose(_ConvTranspose):
    """Keras ``Conv1DTranspose`` (``Convolution1DTranspose``): input ``(batch, steps,
    channels)`` (or channels first), ``"valid"`` or ``"same"`` padding, strides, dilation,
    ``output_padding`` (None: Keras's default size). Kernel ``(k, filters, channels)``.

    >>> import torch
    >>> up = Conv1DTranspose(2, 4, strides=3, output_padding=1)
    >>> tuple(up(torch.zeros(1, 5, 3)).shape), up.count_params()
    ((1, 17, 2), 26)
    """

    keras_class = "Conv1DTranspose"
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Keras ``Conv2DTranspose`` (``Convolution2DTranspose``, Keras 2's ``Deconvolution2D``),
    as :class:`Conv1DTranspose` with two spatial axes; size options one int or a pair. Kernel
    ``(kh, kw, filters, channels)``.

    >>> import torch
    >>> tuple(Conv2DTranspose(2, (3, 2), strides=(2, 1))(torch.zeros(1, 4, 5, 3)).shape)
    (1, 9, 6, 2)
    """

    keras_class = "Conv2DTranspose"
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Keras ``Conv3DTranspose`` (``Convolution3DTranspose``), as :class:`Conv2DTranspose` with
    three spatial axes. Kernel ``(k1, k2, k3, filters, channels)``.

    >>> import torch
    >>> tuple(Conv3DTranspose(2, 2, strides=2, padding="same")(torch.zeros(1, 2, 3, 4, 3)).shape)
    (1, 4, 6, 8, 2)
    """

    keras_class = "Conv3DTranspose"
    rank = 3
