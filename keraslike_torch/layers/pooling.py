"""Keras 1-D poolings: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D.

Two base classes, one per kind: :class:`_Pooling` (windows: checks, layout, TensorFlow's
``"same"`` padding) and :class:`_GlobalPooling` (a reduction over the step axes), each written
for ``rank`` spatial axes (1 here) so the 2-D/3-D variants only need their own window op.
Average pooling divides each window by its number of real elements, as TensorFlow does.
Masks: ``GlobalAveragePooling1D`` consumes them, the others drop them. Their converters are in
:mod:`keraslike_torch.converters`.

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
from ._checks import ParameterFree, cast_like, check_data_format, check_tensor, positive_int
from .convolutional import conv_output_length, same_padding

__all__ = ["MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D"]


class _Pooling(ParameterFree):
    """Shared code of the window poolings: inputs ``(batch, *steps, channels)`` (channels first
    with ``data_format="channels_first"``) of ``rank`` spatial axes; ``_pool`` works on the
    channels-first tensor."""

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
        self.pool_size = positive_int(f"{kind}: pool_size", pool_size, single=True)
        self.strides = (
            self.pool_size
            if strides is None
            else positive_int(f"{kind}: strides", strides, single=True)
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

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        ndim = self.rank + 2
        x = cast_like(self, check_tensor(self, inputs, ndim, ndim=ndim), self._dtype_ref)
        channels_last = self.data_format == "channels_last"
        if channels_last:
            x = x.movedim(-1, 1)
        for steps in x.shape[2:]:
            if conv_output_length(steps, self.pool_size, self.padding, self.strides) <= 0:
                raise ValueError(
                    f"{type(self).__name__}: an input of {steps} steps is too short for "
                    f"pool_size={self.pool_size} with padding='valid'"
                )
        y = self._pool(x, int(x.shape[-1]))
        return y.movedim(1, -1) if channels_last else y

    def _pool(self, x: Tensor, steps: int) -> Tensor:
        raise NotImplementedError


class MaxPooling1D(_Pooling):
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


class AveragePooling1D(_Pooling):
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


class GlobalMaxPooling1D(_GlobalPooling):
    """Keras ``GlobalMaxPooling1D`` (``GlobalMaxPool1D``): the maximum over steps. Masks are
    ignored (tf-keras does not support them here) and not propagated.

    >>> import torch
    >>> GlobalMaxPooling1D(keepdims=True)(torch.arange(6.0).reshape(1, 3, 2)).tolist()
    [[[4.0, 5.0]]]
    """

    keras_class = "GlobalMaxPooling1D"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._input(inputs)
        return x.amax(dim=self._steps_axes, keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling):
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
        axes = self._steps_axes
        if mask is None:
            return x.mean(dim=axes, keepdim=self.keepdims)
        (axis,) = axes
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
