"""Keras regularization layers: Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout.

All are the identity at inference; in training (``training=True``, or ``self.training`` when
``training`` is None) they add noise. Their converters are in
:mod:`keraslike_torch.converters`.

Generation difference: ``Dropout(rate=1)`` in training gives zeros in Keras 3, the input in
Keras 1-2.

>>> import torch
>>> from keraslike_torch.layers import Dropout
>>> bool((Dropout(0.5).eval()(torch.ones(3, 4)) == 1).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ._checks import LayerOptions, ParameterFree, positive_int
from ._checks import rate as _rate

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout"]


class _Noise(ParameterFree):
    """Shared code: the identity unless training and :meth:`_active`; else :meth:`_noise`."""

    supports_masking = True

    def _active(self) -> bool:
        raise NotImplementedError

    def _noise(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if not self._training(training) or not self._active():
            return x
        return self._noise(x)


class Dropout(_Noise):
    """Keras ``Dropout``: identity at inference; in training each element (or each slice given by
    ``noise_shape``, ``None`` entries meaning the input's size) is dropped with probability
    ``rate`` and the kept ones are scaled by ``1 / (1 - rate)``.

    >>> import torch
    >>> from keraslike_torch.layers import Dropout
    >>> d = Dropout(0.5).eval()
    >>> bool((d(torch.ones(3, 4)) == 1).all())
    True
    """

    keras_class = "Dropout"

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.rate = _rate(f"{self.keras_class} rate", rate)
        if noise_shape is not None:
            if isinstance(noise_shape, (str, bytes)) or not isinstance(noise_shape, Sequence):
                raise ValueError(
                    f"noise_shape must be a list of integers or None, got {noise_shape!r}"
                )
            noise_shape = tuple(
                None if d is None else positive_int("noise_shape entry", d) for d in noise_shape
            )
        self.noise_shape: tuple[int | None, ...] | None = noise_shape

    def extra_repr(self) -> str:
        return f"rate={self.rate}" + (
            f", noise_shape={self.noise_shape}" if self.noise_shape else ""
        )

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(x.shape)
        if len(self.noise_shape) != x.dim():
            raise ValueError(
                f"{self.keras_class} noise_shape {self.noise_shape} does not match the rank of the "
                f"input of shape {tuple(x.shape)}"
            )
        dims = zip(self.noise_shape, x.shape, strict=True)
        shape = tuple(int(n) if d is None else d for d, n in dims)
        if any(d not in (1, int(n)) for d, n in zip(shape, x.shape, strict=True)):
            raise ValueError(
                f"{self.keras_class} noise_shape {self.noise_shape} does not broadcast to the "
                f"input of shape {tuple(x.shape)}"
            )
        return shape

    def _active(self) -> bool:
        return self.rate != 0.0

    def _noise(self, x: Tensor) -> Tensor:
        shape = self._mask_shape(x)
        if self.rate >= 1.0:  # Keras 3 returns zeros; Keras 1/2 only drop for 0 < rate < 1
            return torch.zeros_like(x) if self.keras_version >= 3 else x
        keep = torch.rand(shape, dtype=x.dtype, device=x.device) >= self.rate
        return x * (1.0 / (1.0 - self.rate)) * keep.to(x.dtype)


class SpatialDropout1D(Dropout):
    """Keras ``SpatialDropout1D``: dropout of whole channels of (batch, time, channels) input,
    one mask per sample (noise shape ``(batch, 1, channels)``).

    >>> import torch
    >>> from keraslike_torch.layers import SpatialDropout1D
    >>> y = SpatialDropout1D(0.5)(torch.ones(2, 6, 3), training=True)
    >>> bool((y == y[:, :1]).all())
    True
    """

    keras_class = "SpatialDropout1D"

    def __init__(
        self,
        rate: float,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            rate, None, keras_version=keras_version, name=name, device=device, dtype=dtype
        )

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        if x.dim() != 3:
            raise ValueError(
                "SpatialDropout1D expects a 3-D input (batch, time, channels), got shape "
                f"{tuple(x.shape)}"
            )
        return (int(x.shape[0]), 1, int(x.shape[2]))


class GaussianNoise(_Noise):
    """Keras ``GaussianNoise``: adds N(0, stddev) noise in training, identity at inference.

    >>> import torch
    >>> from keraslike_torch.layers import GaussianNoise
    >>> GaussianNoise(0.1).eval()(torch.ones(2)).tolist()
    [1.0, 1.0]
    """

    keras_class = "GaussianNoise"

    def __init__(self, stddev: float, **options: Unpack[LayerOptions]) -> None:
        super().__init__(**options)
        if (
            isinstance(stddev, bool)
            or not isinstance(stddev, (int, float, np.integer, np.floating))
            or stddev < 0
        ):
            raise ValueError(f"GaussianNoise stddev must be a non-negative number, got {stddev!r}")
        self.stddev = float(stddev)

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"

    def _active(self) -> bool:
        return self.stddev != 0.0

    def _noise(self, x: Tensor) -> Tensor:
        return x + torch.randn_like(x) * self.stddev


class GaussianDropout(_Noise):
    """Keras ``GaussianDropout``: multiplies by N(1, sqrt(rate / (1 - rate))) noise in training
    (for 0 < rate < 1), identity otherwise.

    >>> import torch
    >>> from keraslike_torch.layers import GaussianDropout
    >>> GaussianDropout(0.2).eval()(torch.ones(2)).tolist()
    [1.0, 1.0]
    """

    keras_class = "GaussianDropout"

    def __init__(self, rate: float, **options: Unpack[LayerOptions]) -> None:
        super().__init__(**options)
        self.rate = _rate("GaussianDropout rate", rate)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"

    def _active(self) -> bool:
        return 0.0 < self.rate < 1.0

    def _noise(self, x: Tensor) -> Tensor:
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (torch.randn_like(x) * stddev + 1.0)
