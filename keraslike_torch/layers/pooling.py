"""Keras poolings over 1, 2 or 3 spatial axes: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D,
GlobalMaxPooling1D/2D/3D, GlobalAveragePooling1D/2D/3D.

Two base classes, one per kind: :class:`_Pooling` (windows: checks, layout, TensorFlow's
``"same"`` padding) and :class:`_GlobalPooling` (a reduction over the step axes), each written
for ``rank`` spatial axes, so each public class only says its rank and its operation.
Average pooling divides each window by its number of real elements, as TensorFlow does.
Masks: ``GlobalAveragePooling1D`` consumes them, the others drop them (as in both Keras
generations). Their converters are in :mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import GlobalAveragePooling1D, MaxPooling1D
>>> GlobalAveragePooling1D()(MaxPooling1D(2)(torch.arange(8.0).reshape(1, 4, 2))).tolist()
[[4.0, 5.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..common.config import as_bool_mask
from ._checks import (
    ParameterFree,
    cast_like,
    check_data_format,
    check_tensor,
    int_tuple,
    positive_int,
)
from .convolutional import conv_output_length, same_padding

__all__ = [
    "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
    "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
    "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D",
]


def _sizes(what: str, value: Any, rank: int) -> Any:
    """One int for a 1-D layer (as 0.2's MaxPooling1D kept it), else a tuple of ``rank`` ints."""
    if rank == 1:
        return positive_int(what, value, single=True)
    return int_tuple(what, value, rank)


def _pads(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """TensorFlow's ``"same"`` padding ``(before, after)`` of each spatial axis."""
    return [same_padding(int(n), k, s) for n, k, s in zip(shape, kernel, strides, strict=True)]


def _flat(pads: Sequence[tuple[int, int]]) -> list[int]:
    """``F.pad``'s argument for the spatial axes ``pads`` (last axis first)."""
    return [p for pair in reversed(pads) for p in pair]


class _Pooling(ParameterFree):
    """Shared code of the window poolings: inputs ``(batch, *steps, channels)`` (channels first
    with ``data_format="channels_first"``) of ``rank`` spatial axes; ``_pool`` works on the
    channels-first tensor with the window ``kernel`` and ``strides`` as tuples."""

    rank = 1

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
        super().__init__(name, 3, device, dtype)
        kind = type(self).__name__
        self.pool_size = _sizes(f"{kind}: pool_size", pool_size, self.rank)
        self.strides = (
            self.pool_size if strides is None else _sizes(f"{kind}: strides", strides, self.rank)
        )
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}")
        self.data_format = check_data_format(data_format, kind)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}" + (
            ", data_format='channels_first'" if self.data_format == "channels_first" else ""
        )

    def built_config(self) -> dict[str, Any]:
        return {"dtype": self._dtype_ref.dtype}

    def _window(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        k, s = self.pool_size, self.strides
        return (k,) if isinstance(k, int) else k, (s,) if isinstance(s, int) else s

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        ndim = self.rank + 2
        x = cast_like(self, check_tensor(self, inputs, ndim, ndim=ndim), self._dtype_ref)
        channels_last = self.data_format == "channels_last"
        if channels_last:
            x = x.movedim(-1, 1)
        kernel, strides = self._window()
        for steps, k, s in zip(x.shape[2:], kernel, strides, strict=True):
            if conv_output_length(steps, k, self.padding, s) <= 0:
                what = f"{steps} steps" if self.rank == 1 else f"spatial shape {tuple(x.shape[2:])}"
                raise ValueError(
                    f"{type(self).__name__}: an input of {what} is too short for "
                    f"pool_size={self.pool_size} with padding='valid'"
                )
        y = self._pool(x, kernel, strides)
        return y.movedim(1, -1) if channels_last else y

    def _pool(self, x: Tensor, kernel: tuple[int, ...], strides: tuple[int, ...]) -> Tensor:
        raise NotImplementedError


class _MaxPooling(_Pooling):
    """The maximum over each window; ``"same"`` padding never selects a pad element."""

    def _pool(self, x: Tensor, kernel: tuple[int, ...], strides: tuple[int, ...]) -> Tensor:
        if self.padding == "same":
            pads = _flat(_pads(x.shape[2:], kernel, strides))
            if any(pads):
                x = F.pad(x, pads, value=-math.inf)
        return getattr(F, f"max_pool{self.rank}d")(x, kernel, strides)


class _AveragePooling(_Pooling):
    """The mean over each window; with ``"same"`` padding each window is divided by its number
    of real (non-padding) elements, as TensorFlow does."""

    def _pool(self, x: Tensor, kernel: tuple[int, ...], strides: tuple[int, ...]) -> Tensor:
        pads = _pads(x.shape[2:], kernel, strides) if self.padding == "same" else []
        if not any(p for pair in pads for p in pair):
            return getattr(F, f"avg_pool{self.rank}d")(x, kernel, strides)
        windows = F.pad(x, _flat(pads))
        for axis, (k, s) in enumerate(zip(kernel, strides, strict=True)):
            windows = windows.unfold(2 + axis, k, s)  # (B, C, *out, *kernel)
        total = windows.sum(tuple(range(-self.rank, 0)))
        counts = torch.ones((), dtype=torch.long, device=x.device)
        for steps, k, s, (left, _), out in zip(
            x.shape[2:], kernel, strides, pads, total.shape[2:], strict=True
        ):
            start = torch.arange(out, device=x.device) * s - left
            counts = counts.unsqueeze(-1) * ((start + k).clamp(max=steps) - start.clamp(min=0))
        return total / counts.to(x.dtype)


class MaxPooling1D(_MaxPooling):
    """Keras ``MaxPooling1D`` (``MaxPool1D``); ``"same"`` padding never selects a pad element.

    >>> import torch
    >>> x = torch.arange(5.0).reshape(1, 5, 1)
    >>> MaxPooling1D(2, padding="same")(x).flatten().tolist()
    [1.0, 3.0, 4.0]
    """

    keras_class = "MaxPooling1D"


class AveragePooling1D(_AveragePooling):
    """Keras ``AveragePooling1D`` (``AvgPool1D``); with ``"same"`` padding each window is divided
    by its number of real (non-padding) elements, as TensorFlow does.

    >>> import torch
    >>> x = torch.arange(5.0).reshape(1, 5, 1)
    >>> AveragePooling1D(2, padding="same")(x).flatten().tolist()
    [0.5, 2.5, 4.0]
    """

    keras_class = "AveragePooling1D"


class MaxPooling2D(_MaxPooling):
    """Keras ``MaxPooling2D`` (``MaxPool2D``): inputs ``(batch, rows, cols, channels)``
    (``(batch, channels, rows, cols)`` with ``data_format="channels_first"``); ``pool_size`` and
    ``strides`` are one integer or two.

    >>> import torch
    >>> x = torch.arange(12.0).reshape(1, 3, 4, 1)
    >>> MaxPooling2D(2, padding="same")(x)[0, ..., 0].tolist()
    [[5.0, 7.0], [9.0, 11.0]]
    """

    keras_class = "MaxPooling2D"
    rank = 2


class AveragePooling2D(_AveragePooling):
    """Keras ``AveragePooling2D`` (``AvgPool2D``); ``"same"`` padding divides each window by its
    number of real elements, as TensorFlow does.

    >>> import torch
    >>> x = torch.arange(12.0).reshape(1, 3, 4, 1)
    >>> AveragePooling2D(2, padding="same")(x)[0, ..., 0].tolist()
    [[2.5, 4.5], [8.5, 10.5]]
    """

    keras_class = "AveragePooling2D"
    rank = 2


class MaxPooling3D(_MaxPooling):
    """Keras ``MaxPooling3D`` (``MaxPool3D``): inputs ``(batch, d1, d2, d3, channels)`` (channels
    second with ``data_format="channels_first"``), such as ConvLSTM2D's sequences.

    >>> import torch
    >>> MaxPooling3D((1, 2, 2))(torch.arange(16.0).reshape(1, 2, 2, 4, 1)).flatten().tolist()
    [5.0, 7.0, 13.0, 15.0]
    """

    keras_class = "MaxPooling3D"
    rank = 3


class AveragePooling3D(_AveragePooling):
    """Keras ``AveragePooling3D`` (``AvgPool3D``); ``"same"`` padding as in AveragePooling2D.

    >>> import torch
    >>> AveragePooling3D(2, padding="same")(torch.ones(1, 3, 3, 3, 2)).shape
    torch.Size([1, 2, 2, 2, 2])
    """

    keras_class = "AveragePooling3D"
    rank = 3


class _GlobalPooling(ParameterFree):
    """Shared code of the global poolings: a reduction over the ``rank`` step axes."""

    rank = 1

    def __init__(
        self,
        data_format: str | None = "channels_last",
        keepdims: bool = False,
        name: str | None = None,
        keras_version: int = 3,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.data_format = check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    @property
    def _steps_axes(self) -> list[int]:
        first = 1 if self.data_format == "channels_last" else 2
        return list(range(first, first + self.rank))

    def extra_repr(self) -> str:
        parts = [f"keepdims={self.keepdims}"]
        if self.data_format == "channels_first":
            parts.append("data_format='channels_first'")
        return ", ".join(parts)

    def built_config(self) -> dict[str, Any]:
        return {"dtype": self._dtype_ref.dtype}

    def _input(self, inputs: Any) -> Tensor:
        ndim = self.rank + 2
        x = cast_like(self, check_tensor(self, inputs, ndim, ndim=ndim), self._dtype_ref)
        if any(x.shape[a] == 0 for a in self._steps_axes):
            raise ValueError(
                f"{type(self).__name__} got an input with 0 steps: shape {tuple(x.shape)}"
            )
        return x


class _GlobalMaxPooling(_GlobalPooling):
    """The maximum over the step axes; masks are dropped (as in both Keras generations)."""

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        return self._input(inputs).amax(dim=self._steps_axes, keepdim=self.keepdims)


class _GlobalAveragePooling(_GlobalPooling):
    """The mean over the step axes; masks are dropped except by the 1-D layer."""

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        return self._input(inputs).mean(dim=self._steps_axes, keepdim=self.keepdims)


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """Keras ``GlobalMaxPooling1D`` (``GlobalMaxPool1D``): the maximum over steps. Masks are
    ignored (tf-keras does not support them here) and not propagated.

    >>> import torch
    >>> GlobalMaxPooling1D(keepdims=True)(torch.arange(6.0).reshape(1, 3, 2)).tolist()
    [[[4.0, 5.0]]]
    """

    keras_class = "GlobalMaxPooling1D"


class GlobalAveragePooling1D(_GlobalAveragePooling):
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
        if mask is None:
            return super().forward(inputs)
        x = self._input(inputs)
        (axis,) = self._steps_axes
        m = as_bool_mask(mask, x.device)
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


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """Keras ``GlobalMaxPooling2D`` (``GlobalMaxPool2D``): the maximum over rows and columns.

    >>> import torch
    >>> GlobalMaxPooling2D()(torch.arange(12.0).reshape(1, 2, 3, 2)).tolist()
    [[10.0, 11.0]]
    """

    keras_class = "GlobalMaxPooling2D"
    rank = 2


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Keras ``GlobalAveragePooling2D`` (``GlobalAvgPool2D``): the mean over rows and columns
    (masks are dropped, as in Keras).

    >>> import torch
    >>> GlobalAveragePooling2D(keepdims=True)(torch.arange(12.0).reshape(1, 2, 3, 2)).tolist()
    [[[[5.0, 6.0]]]]
    """

    keras_class = "GlobalAveragePooling2D"
    rank = 2


class GlobalMaxPooling3D(_GlobalMaxPooling):
    """Keras ``GlobalMaxPooling3D`` (``GlobalMaxPool3D``): the maximum over the three spatial axes.

    >>> import torch
    >>> GlobalMaxPooling3D(data_format="channels_first")(torch.arange(8.0).reshape(1, 1, 2, 2, 2)).tolist()
    [[7.0]]
    """

    keras_class = "GlobalMaxPooling3D"
    rank = 3


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """Keras ``GlobalAveragePooling3D`` (``GlobalAvgPool3D``): the mean over the three spatial axes.

    >>> import torch
    >>> GlobalAveragePooling3D()(torch.arange(8.0).reshape(1, 2, 2, 2, 1)).tolist()
    [[3.5]]
    """

    keras_class = "GlobalAveragePooling3D"
    rank = 3
