"""Keras reshaping layers: RepeatVector, Flatten, Reshape, Permute (no weights, no masks).
Their converters are in :mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import Flatten, RepeatVector
>>> Flatten()(RepeatVector(3)(torch.zeros(2, 4))).shape
torch.Size([2, 12])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._checks import ParameterFree, check_data_format, positive_int

__all__ = ["RepeatVector", "Flatten", "Reshape", "Permute"]


class RepeatVector(ParameterFree):
    """Keras ``RepeatVector``: (batch, features) -> (batch, n, features).

    >>> import torch
    >>> from keraslike_torch.layers import RepeatVector
    >>> RepeatVector(3)(torch.zeros(2, 4)).shape
    torch.Size([2, 3, 4])
    """

    keras_class = "RepeatVector"

    def __init__(
        self,
        n: int,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.n = positive_int("RepeatVector n", n, allow_zero=True)

    def extra_repr(self) -> str:
        return f"n={self.n}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() != 2:
            raise ValueError(
                f"RepeatVector expects a 2-D input (batch, features), got shape {tuple(x.shape)}"
            )
        return x.unsqueeze(1).repeat(1, self.n, 1)


class Flatten(ParameterFree):
    """Keras ``Flatten``: (batch, ...) -> (batch, prod(...)); with ``channels_first`` the channel
    axis is moved last first, as Keras does.

    >>> import torch
    >>> from keraslike_torch.layers import Flatten
    >>> Flatten()(torch.zeros(2, 3, 4)).shape, Flatten()(torch.zeros(2)).shape
    (torch.Size([2, 12]), torch.Size([2, 1]))
    """

    keras_class = "Flatten"

    def __init__(
        self,
        data_format: str | None = "channels_last",
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.data_format = check_data_format(data_format, "Flatten")

    def extra_repr(self) -> str:
        return "data_format='channels_first'" if self.data_format == "channels_first" else ""

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() < 1:
            raise ValueError("Flatten expects an input with a batch axis")
        if self.data_format == "channels_first" and x.dim() > 2:
            x = x.permute(0, *range(2, x.dim()), 1)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))


class Reshape(ParameterFree):
    """Keras ``Reshape`` to ``(batch, *target_shape)``; one entry may be -1.

    >>> import torch
    >>> from keraslike_torch.layers import Reshape
    >>> Reshape((2, -1))(torch.zeros(5, 6)).shape
    torch.Size([5, 2, 3])
    """

    keras_class = "Reshape"

    def __init__(
        self,
        target_shape: Sequence[int],
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(target_shape, (str, bytes)) or not isinstance(target_shape, Sequence):
            raise ValueError(
                f"Reshape target_shape must be a list of integers, got {target_shape!r}"
            )
        shape = []
        for d in target_shape:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or (d < 0 and d != -1):
                raise ValueError(
                    "Reshape target_shape entries must be non-negative integers or -1, got "
                    f"{target_shape!r}"
                )
            shape.append(int(d))
        if shape.count(-1) > 1:
            raise ValueError(f"Reshape target_shape may contain at most one -1, got {tuple(shape)}")
        self.target_shape = tuple(shape)

    def extra_repr(self) -> str:
        return f"target_shape={self.target_shape}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() < 1:
            raise ValueError("Reshape expects an input with a batch axis")
        size = math.prod(x.shape[1:])
        shape = list(self.target_shape)
        known = math.prod(d for d in shape if d != -1)
        if -1 in shape:
            if known == 0 or size % known:
                raise ValueError(
                    f"Reshape cannot reshape input of shape {tuple(x.shape)} to "
                    f"(batch, *{self.target_shape})"
                )
            shape[shape.index(-1)] = size // known
        elif known != size:
            raise ValueError(
                f"Reshape cannot reshape input of shape {tuple(x.shape)} to "
                f"(batch, *{self.target_shape})"
            )
        return x.reshape(x.shape[0], *shape)


class Permute(ParameterFree):
    """Keras ``Permute``: permutes the non-batch axes; ``dims`` are 1-based as in Keras.

    >>> import torch
    >>> from keraslike_torch.layers import Permute
    >>> Permute((2, 1))(torch.zeros(4, 3, 5)).shape
    torch.Size([4, 5, 3])
    """

    keras_class = "Permute"

    def __init__(
        self,
        dims: Sequence[int],
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence):
            raise ValueError(f"Permute dims must be a list of integers, got {dims!r}")
        try:
            ok = sorted(int(d) for d in dims) == list(range(1, len(dims) + 1))
        except (TypeError, ValueError):
            ok = False
        if not ok or any(isinstance(d, bool) for d in dims):
            raise ValueError(
                f"Permute dims must be a permutation of 1..{len(dims)} (1-based, batch axis "
                f"excluded), got {tuple(dims)!r}"
            )
        self.dims = tuple(int(d) for d in dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() != len(self.dims) + 1:
            raise ValueError(
                f"Permute{self.dims} expects a {len(self.dims) + 1}-D input, got shape "
                f"{tuple(x.shape)}"
            )
        return x.permute(0, *self.dims)

