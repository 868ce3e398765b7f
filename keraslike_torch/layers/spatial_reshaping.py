"""Keras reshaping layers over spatial axes: UpSampling1D/2D, ZeroPadding1D/2D, Cropping1D/2D
(no weights; masks are dropped, as in both Keras generations). Keras 3 keeps them in
``layers/reshaping/``; they live apart from :mod:`.reshaping` only to keep files short.

Each class says its ``rank`` (spatial axes); inputs are ``(batch, *spatial, channels)``, or
``(batch, channels, *spatial)`` with ``data_format="channels_first"``. Their converters are in
:mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import Cropping1D, UpSampling1D, ZeroPadding1D
>>> x = torch.arange(3.0).reshape(1, 3, 1)
>>> Cropping1D((1, 0))(UpSampling1D(2)(ZeroPadding1D((0, 1))(x))).flatten().tolist()
[0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import ParameterFree, cast_like, check_data_format, check_tensor, int_tuple, positive_int

__all__ = ["UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D"]

Pairs = tuple[tuple[int, int], ...]


def side_pairs(what: str, value: Any, rank: int) -> Pairs:
    """Keras's padding/cropping argument as ``(before, after)`` per spatial axis: one integer
    (every side), for rank 1 a pair, else ``rank`` entries that are each an integer (both sides)
    or a pair.

    >>> side_pairs("ZeroPadding2D: padding", (1, (2, 3)), 2)
    ((1, 1), (2, 3))
    """
    if not isinstance(value, (list, tuple)):
        n = positive_int(what, value, allow_zero=True)
        return ((n, n),) * rank
    if rank == 1:
        return (int_tuple(what, value, 2, allow_zero=True),)  # type: ignore[return-value]
    if len(value) != rank:
        raise ValueError(f"{what} must be one integer or {rank} entries, got {value!r}")
    return tuple(int_tuple(what, v, 2, allow_zero=True) for v in value)  # type: ignore[misc]


def _bilinear_weights(n_in: int, n_out: int, device: Any) -> tuple[Tensor, Tensor, Tensor]:
    """TensorFlow's ResizeBilinear (half-pixel centers) along one axis, in its float32 arithmetic:
    the lower and upper source indices and the weight of the upper one."""
    scale = torch.tensor(n_in, dtype=torch.float32) / torch.tensor(n_out, dtype=torch.float32)
    src = (torch.arange(n_out, dtype=torch.float32, device=device) + 0.5) * scale.to(device) - 0.5
    floor = torch.floor(src)
    lower = floor.to(torch.int64).clamp(min=0)
    upper = torch.ceil(src).to(torch.int64).clamp(max=n_in - 1)
    return lower, upper, src - floor


def resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``tf.image.resize(x, size, "bilinear")`` of a ``(batch, rows, cols, channels)`` tensor,
    bit for bit: computed in float32 (as TensorFlow's kernel does for every input dtype) with its
    lerp order, then cast back to ``x``'s dtype.

    >>> import torch
    >>> resize_bilinear(torch.tensor([[[[0.0], [1.0]]]]), (1, 4)).flatten().tolist()
    [0.0, 0.25, 0.75, 1.0]
    """
    v = x.to(torch.float32)
    ylo, yhi, ylerp = _bilinear_weights(v.shape[1], size[0], v.device)
    xlo, xhi, xlerp = _bilinear_weights(v.shape[2], size[1], v.device)
    xlerp, ylerp = xlerp.view(1, 1, -1, 1), ylerp.view(1, -1, 1, 1)
    top, bottom = v.index_select(1, ylo), v.index_select(1, yhi)
    top = top.index_select(2, xlo) + (top.index_select(2, xhi) - top.index_select(2, xlo)) * xlerp
    bottom = (
        bottom.index_select(2, xlo)
        + (bottom.index_select(2, xhi) - bottom.index_select(2, xlo)) * xlerp
    )
    return (top + (bottom - top) * ylerp).to(x.dtype)


class _Spatial(ParameterFree):
    """Shared code: a ``rank + 2``-D floating-point input in the layer's dtype, its spatial axes."""

    rank = 1

    def __init__(
        self,
        data_format: str | None,
        keras_version: int,
        name: str | None,
        device: Any,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.data_format = check_data_format(data_format, type(self).__name__)

    def _input(self, inputs: Any) -> Tensor:
        ndim = self.rank + 2
        return cast_like(self, check_tensor(self, inputs, ndim, ndim=ndim), self._dtype_ref)

    @property
    def _axes(self) -> list[int]:
        first = 1 if self.data_format == "channels_last" else 2
        return list(range(first, first + self.rank))

    def _format_repr(self) -> str:
        return ", data_format='channels_first'" if self.data_format == "channels_first" else ""


class UpSampling1D(_Spatial):
    """Keras ``UpSampling1D``: repeats each step ``size`` times, ``(batch, steps, features)`` ->
    ``(batch, steps * size, features)``.

    >>> import torch
    >>> UpSampling1D(3)(torch.tensor([[[1.0], [2.0]]])).flatten().tolist()
    [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    """

    keras_class = "UpSampling1D"

    def __init__(
        self,
        size: int = 2,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__("channels_last", keras_version, name, device, dtype)
        self.size = positive_int("UpSampling1D: size", size, single=True)

    def extra_repr(self) -> str:
        return f"size={self.size}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        return self._input(inputs).repeat_interleave(self.size, dim=1)


class UpSampling2D(_Spatial):
    """Keras ``UpSampling2D``: rows and columns scaled by ``size``, with ``"nearest"`` (repeats)
    or ``"bilinear"`` interpolation (TensorFlow's ``tf.image.resize``, half-pixel centers, bit
    for bit: computed in float32 for every dtype, as TensorFlow does; tf-keras even returns
    float32 for a float64 layer, where this layer returns its own dtype).

    >>> import torch
    >>> x = torch.tensor([[[[0.0], [1.0]]]])
    >>> UpSampling2D((1, 2), interpolation="bilinear")(x).flatten().tolist()
    [0.0, 0.25, 0.75, 1.0]
    """

    keras_class = "UpSampling2D"
    rank = 2

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2),
        data_format: str | None = "channels_last",
        interpolation: str = "nearest",
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(data_format, keras_version, name, device, dtype)
        self.size = int_tuple("UpSampling2D: size", size, 2)
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D: interpolation={interpolation!r} is not supported (only 'nearest' "
                "and 'bilinear' are reproduced exactly)"
            )

    def extra_repr(self) -> str:
        return f"size={self.size}, interpolation={self.interpolation!r}" + self._format_repr()

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._input(inputs)
        if self.interpolation == "nearest":
            for axis, factor in zip(self._axes, self.size, strict=True):
                x = x.repeat_interleave(factor, dim=axis)
            return x
        first = self.data_format == "channels_first"
        v = x.movedim(1, -1) if first else x
        y = resize_bilinear(v, (v.shape[1] * self.size[0], v.shape[2] * self.size[1]))
        return y.movedim(-1, 1) if first else y


class _ZeroPadding(_Spatial):
    def _pairs(self) -> Pairs:
        p = self.padding
        return (p,) if self.rank == 1 else p  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"padding={self.padding}" + self._format_repr()

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._input(inputs)
        flat = [p for pair in reversed(self._pairs()) for p in pair]
        if self.data_format == "channels_last":
            flat = [0, 0, *flat]
        return F.pad(x, flat) if any(flat) else x


class ZeroPadding1D(_ZeroPadding):
    """Keras ``ZeroPadding1D``: zeros before and after the steps; ``padding`` is one integer
    (both sides) or ``(before, after)``. ``data_format`` is Keras 3's (tf-keras has none).

    >>> import torch
    >>> ZeroPadding1D((1, 2))(torch.ones(1, 2, 1)).flatten().tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """

    keras_class = "ZeroPadding1D"

    def __init__(
        self,
        padding: int | Sequence[int] = 1,
        data_format: str | None = "channels_last",
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(data_format, keras_version, name, device, dtype)
        (self.padding,) = side_pairs("ZeroPadding1D: padding", padding, 1)


class ZeroPadding2D(_ZeroPadding):
    """Keras ``ZeroPadding2D``: ``padding`` is one integer, ``(rows, cols)`` (both sides each)
    or ``((top, bottom), (left, right))``.

    >>> import torch
    >>> ZeroPadding2D(((1, 0), (0, 2)))(torch.ones(1, 1, 1, 1))[0, ..., 0].tolist()
    [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """

    keras_class = "ZeroPadding2D"
    rank = 2

    def __init__(
        self,
        padding: int | Sequence[Any] = (1, 1),
        data_format: str | None = "channels_last",
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(data_format, keras_version, name, device, dtype)
        self.padding = side_pairs("ZeroPadding2D: padding", padding, 2)


class _Cropping(_Spatial):
    def _pairs(self) -> Pairs:
        c = self.cropping
        return (c,) if self.rank == 1 else c  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"cropping={self.cropping}" + self._format_repr()

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._input(inputs)
        for axis, (before, after) in zip(self._axes, self._pairs(), strict=True):
            if before + after >= x.shape[axis]:
                raise ValueError(
                    f"{type(self).__name__}: cropping={self.cropping} leaves nothing of an input "
                    f"of shape {tuple(x.shape)}"
                )
            x = x.narrow(axis, before, x.shape[axis] - before - after)
        return x


class Cropping1D(_Cropping):
    """Keras ``Cropping1D``: drops steps at the start and end; ``cropping`` is one integer
    (both ends) or ``(start, end)``.

    >>> import torch
    >>> Cropping1D((1, 2))(torch.arange(5.0).reshape(1, 5, 1)).flatten().tolist()
    [1.0, 2.0]
    """

    keras_class = "Cropping1D"

    def __init__(
        self,
        cropping: int | Sequence[int] = (1, 1),
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__("channels_last", keras_version, name, device, dtype)
        (self.cropping,) = side_pairs("Cropping1D: cropping", cropping, 1)


class Cropping2D(_Cropping):
    """Keras ``Cropping2D``: ``cropping`` is one integer, ``(rows, cols)`` (both sides each) or
    ``((top, bottom), (left, right))``.

    >>> import torch
    >>> Cropping2D(((1, 0), (0, 1)))(torch.arange(6.0).reshape(1, 2, 3, 1))[0, ..., 0].tolist()
    [[3.0, 4.0]]
    """

    keras_class = "Cropping2D"
    rank = 2

    def __init__(
        self,
        cropping: int | Sequence[Any] = ((0, 0), (0, 0)),
        data_format: str | None = "channels_last",
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(data_format, keras_version, name, device, dtype)
        self.cropping = side_pairs("Cropping2D: cropping", cropping, 2)
