"""Keras ``DepthwiseConv1D`` / ``DepthwiseConv2D`` and ``SeparableConv1D`` / ``SeparableConv2D``
on the N-d :class:`~keraslike_torch.layers.convolutional.ConvBase`.

A depthwise convolution filters each input channel with ``depth_multiplier`` kernels of its
own: Keras's ``(*kernel_size, channels, depth_multiplier)`` kernel is torch's grouped
``(channels * depth_multiplier, 1, *kernel_size)`` weight (output channel ``c * multiplier + m``
is channel ``c``'s ``m``-th kernel, as in ``tf.nn.depthwise_conv2d``). A separable convolution is
that depthwise convolution followed by a pointwise (1x1) one. Unlike the plain convolutions,
strides > 1 with dilation_rate > 1 are allowed (Keras 3 computes them; tf-keras's TensorFlow op
refuses them). Their converters are in :mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import DepthwiseConv2D, SeparableConv1D
>>> tuple(DepthwiseConv2D(3, depth_multiplier=2)(torch.zeros(1, 5, 5, 3)).shape)
(1, 3, 3, 6)
>>> tuple(SeparableConv1D(4, 3, padding="causal")(torch.zeros(2, 7, 3)).shape)
(2, 7, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .. import activations as _activations
from .. import initializers as _initializers
from ._checks import positive_int
from .convolutional import CONV_OPS, ConvBase, as_tuple, kernel_to_keras, kernel_to_torch

__all__ = [
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "depthwise_to_torch", "depthwise_to_keras",
]


def depthwise_to_torch(kernel: Tensor, rank: int) -> Tensor:
    """A Keras depthwise kernel ``(*k, channels, multiplier)`` as torch's grouped weight
    ``(channels * multiplier, 1, *k)``.

    >>> tuple(depthwise_to_torch(torch.zeros(3, 2, 4, 5), 2).shape)
    (20, 1, 3, 2)
    """
    k = kernel.shape[:rank]
    flat = kernel.reshape(*k, kernel.shape[rank] * kernel.shape[rank + 1])
    return flat.permute(rank, *range(rank)).unsqueeze(1)


def depthwise_to_keras(weight: Tensor, rank: int, multiplier: int) -> Tensor:
    """The inverse of :func:`depthwise_to_torch`."""
    k = weight.shape[2:]
    return weight[:, 0].permute(*range(1, rank + 1), 0).reshape(*k, weight.shape[0] // multiplier, multiplier)


class _Depthwise(ConvBase):
    """Keras ``DepthwiseConv1D`` / ``DepthwiseConv2D``."""

    weight: Tensor  # registered in _lazy_parameters (declared here for type checkers)

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = "channels_last",
        dilation_rate: int | Sequence[int] = 1,
        activation: _activations.ActivationLike = None,
        use_bias: bool = True,
        depthwise_initializer: _initializers.InitializerLike = "glorot_uniform",
        bias_initializer: _initializers.InitializerLike = "zeros",
        input_size: int | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        self.depth_multiplier = positive_int(f"{kind}: depth_multiplier", depth_multiplier, single=True)
        self._setup(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                    keras_version, strided_dilation=True)
        self.depthwise_initializer = _initializers.get(depthwise_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self._lazy_parameters(None, {"device": device, "dtype": dtype})
        if input_size is not None:
            self.build(positive_int(f"{kind}: input_size", input_size, single=True))

    def _initializers(self) -> list[Any]:
        return [self.depthwise_initializer]

    def _kernel_shapes(self, channels: int) -> list[tuple[int, ...]]:
        return [(*as_tuple(self.kernel_size), channels, self.depth_multiplier)]

    def _bias_size(self, channels: int) -> int:
        return channels * self.depth_multiplier

    def _channels_from_torch(self, shape: tuple[int, ...]) -> int:
        return shape[0] // self.depth_multiplier

    def _to_torch(self, index: int, kernel: Tensor) -> Tensor:
        return depthwise_to_torch(kernel, self.rank)

    def _to_keras(self, index: int, weight: Tensor) -> Tensor:
        return depthwise_to_keras(weight, self.rank, self.depth_multiplier)

    def _convolve(self, x: Tensor) -> Tensor:
        x, pad = self._window(x)
        return CONV_OPS[self.rank](x, self.weight, self.bias, as_tuple(self.strides), pad,
                                    as_tuple(self.dilation_rate), x.shape[1])


class DepthwiseConv1D(_Depthwise):
    """Keras ``DepthwiseConv1D``: each of the ``channels`` input channels convolved with
    ``depth_multiplier`` kernels of its own; ``"valid"`` or ``"same"`` padding. Weights:
    ``depthwise_kernel (kernel_size, channels, depth_multiplier)``, ``bias (channels *
    depth_multiplier,)``.

    >>> import torch
    >>> conv = DepthwiseConv1D(3, depth_multiplier=2, padding="same")
    >>> tuple(conv(torch.zeros(2, 7, 3)).shape), [w.shape for w in conv.get_keras_weights()]
    ((2, 7, 6), [(3, 3, 2), (6,)])
    """

    keras_class = "DepthwiseConv1D"
    rank = 1


class DepthwiseConv2D(_Depthwise):
    """Keras ``DepthwiseConv2D``, as :class:`DepthwiseConv1D` with two spatial axes; the size
    options are one int or a pair.

    >>> import torch
    >>> conv = DepthwiseConv2D((3, 2), strides=2, padding="same")
    >>> tuple(conv(torch.zeros(2, 7, 6, 4)).shape), conv.count_params()
    ((2, 4, 3, 4), 28)
    """

    keras_class = "DepthwiseConv2D"
    rank = 2


class _Separable(ConvBase):
    """Keras ``SeparableConv1D`` / ``SeparableConv2D``: torch parameters ``depthwise_weight``
    (grouped, as :class:`DepthwiseConv2D`'s), ``pointwise_weight`` ``(filters, channels *
    multiplier, 1, ...)`` and ``bias``."""

    kernels = ("depthwise_weight", "pointwise_weight")
    # registered in _lazy_parameters (declared here for type checkers)
    depthwise_weight: Tensor
    pointwise_weight: Tensor

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: int | Sequence[int] = 1,
        depth_multiplier: int = 1,
        activation: _activations.ActivationLike = None,
        use_bias: bool = True,
        depthwise_initializer: _initializers.InitializerLike = "glorot_uniform",
        pointwise_initializer: _initializers.InitializerLike = "glorot_uniform",
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
        self.depth_multiplier = positive_int(f"{kind}: depth_multiplier", depth_multiplier, single=True)
        self._setup(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                    keras_version, strided_dilation=True)
        self.depthwise_initializer = _initializers.get(depthwise_initializer)
        self.pointwise_initializer = _initializers.get(pointwise_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self._lazy_parameters(self.filters, {"device": device, "dtype": dtype})
        if input_size is not None:
            self.build(positive_int(f"{kind}: input_size", input_size, single=True))

    def _initializers(self) -> list[Any]:
        return [self.depthwise_initializer, self.pointwise_initializer]

    def _kernel_shapes(self, channels: int) -> list[tuple[int, ...]]:
        m = self.depth_multiplier
        return [(*as_tuple(self.kernel_size), channels, m), (*(1,) * self.rank, channels * m, self.filters)]

    def _channels_from_torch(self, shape: tuple[int, ...]) -> int:
        return shape[0] // self.depth_multiplier

    def _to_torch(self, index: int, kernel: Tensor) -> Tensor:
        if index == 0:
            return depthwise_to_torch(kernel, self.rank)
        return kernel_to_torch(kernel, self.rank)

    def _to_keras(self, index: int, weight: Tensor) -> Tensor:
        if index == 0:
            return depthwise_to_keras(weight, self.rank, self.depth_multiplier)
        return kernel_to_keras(weight, self.rank)

    def _convolve(self, x: Tensor) -> Tensor:
        op = CONV_OPS[self.rank]
        x, pad = self._window(x)
        y = op(x, self.depthwise_weight, None, as_tuple(self.strides), pad,
               as_tuple(self.dilation_rate), x.shape[1])
        return op(y, self.pointwise_weight, self.bias)


class SeparableConv1D(_Separable):
    """Keras ``SeparableConv1D`` (``SeparableConvolution1D``): a depthwise convolution
    (``depth_multiplier`` kernels per channel) then a pointwise one to ``filters`` channels;
    ``"valid"``, ``"same"`` or (tf-keras) ``"causal"`` padding. Weights: ``depthwise_kernel
    (k, channels, multiplier)``, ``pointwise_kernel (1, channels * multiplier, filters)``,
    ``bias (filters,)``.

    >>> import torch
    >>> conv = SeparableConv1D(4, 3, depth_multiplier=2)
    >>> tuple(conv(torch.zeros(2, 7, 3)).shape), [w.shape for w in conv.get_keras_weights()]
    ((2, 5, 4), [(3, 3, 2), (1, 6, 4), (4,)])
    """

    keras_class = "SeparableConv1D"
    rank = 1
    paddings = ("valid", "same", "causal")


class SeparableConv2D(_Separable):
    """Keras ``SeparableConv2D`` (``SeparableConvolution2D``), as :class:`SeparableConv1D` with
    two spatial axes (``"valid"`` or ``"same"`` padding).

    >>> import torch
    >>> conv = SeparableConv2D(5, (3, 3), padding="same", activation="relu")
    >>> tuple(conv(torch.zeros(1, 6, 6, 2)).shape), conv.count_params()
    ((1, 6, 6, 5), 33)
    """

    keras_class = "SeparableConv2D"
    rank = 2
