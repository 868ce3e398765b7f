"""Keras ``Dot``: the batchwise dot product of two tensors (``keras/src/layers/merging/dot.py``).

A merge layer (:class:`~keraslike_torch.layers.merging._Merge`'s input handling) whose output has
no mask (Keras's ``Dot.compute_mask`` returns None in both generations). ``normalize=True``
L2-normalizes both inputs on their dot axes first: Keras 3 as ``x * min(rsqrt(sum(x^2)), 1e7)``
(``1 / epsilon``), tf-keras as ``tf.linalg.l2_normalize``, ``x * rsqrt(max(sum(x^2), 1e-12))``.

>>> import torch
>>> from keraslike_torch.layers import Dot
>>> Dot(axes=(1, 2))([torch.ones(2, 3, 5), torch.ones(2, 10, 3)]).shape
torch.Size([2, 5, 10])
>>> print(Dot(axes=-1).compute_mask([torch.ones(1, 2)] * 2, [torch.tensor([[True, False]])] * 2))
None
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .merging import _Merge

__all__ = ["Dot", "batch_dot"]


def batch_dot(x: Tensor, y: Tensor, axes: tuple[int, int]) -> Tensor:
    """Keras ``batch_dot`` with non-negative ``axes`` (not 0): ``x``'s axis ``axes[0]`` summed
    against ``y``'s ``axes[1]``; the result has ``x``'s other axes then ``y``'s (batch axis once);
    a rank-1 result becomes ``(batch, 1)``."""
    a0, a1 = axes
    xm = torch.movedim(x, a0, -1)  # (B, *x_rest, K)
    ym = torch.movedim(y, a1, 1)  # (B, K, *y_rest)
    x_rest, y_rest = xm.shape[1:-1], ym.shape[2:]
    out = torch.bmm(xm.reshape(xm.shape[0], -1, xm.shape[-1]), ym.reshape(ym.shape[0], ym.shape[1], -1))
    out = out.reshape(out.shape[0], *x_rest, *y_rest)
    return out.unsqueeze(1) if out.dim() == 1 else out


class Dot(_Merge):
    """Keras ``Dot(axes, normalize=False)`` of exactly two inputs; ``axes`` an int (the same axis
    of both) or a pair, counted with the batch axis, negative allowed, never 0.

    >>> import torch
    >>> from keraslike_torch.layers import Dot
    >>> Dot(1, normalize=True)([torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 4.0]])]).tolist()
    [[1.0]]
    """

    keras_class = "Dot"
    _exactly = 2

    def __init__(
        self,
        axes: int | Sequence[int],
        normalize: bool = False,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)

        def is_int(a: Any) -> bool:
            return isinstance(a, (int, np.integer)) and not isinstance(a, bool)

        if is_int(axes):
            self.axes: int | tuple[int, int] = int(axes)  # type: ignore[arg-type]
        elif isinstance(axes, (list, tuple)) and len(axes) == 2 and all(is_int(a) for a in axes):
            self.axes = (int(axes[0]), int(axes[1]))
        else:
            raise ValueError(f"Dot axes must be an integer or a pair of integers, got {axes!r}")
        self.normalize = bool(normalize)

    def extra_repr(self) -> str:
        return f"axes={self.axes}, normalize={self.normalize}"

    def _resolve(self, xs: list[Tensor]) -> tuple[int, int]:
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        out = []
        for a, x in zip(pair, xs, strict=True):
            if x.dim() < 2:
                raise ValueError(f"Dot needs inputs of rank >= 2, got shapes {self._shapes(xs)}")
            if not -x.dim() <= a < x.dim():
                raise ValueError(f"Dot axes={self.axes} do not fit inputs of shapes {self._shapes(xs)}")
            out.append(a % x.dim())
        if 0 in out:
            raise ValueError(f"Dot cannot take the dot product over the batch axis (axes={self.axes})")
        return out[0], out[1]

    def _l2_normalize(self, x: Tensor, axis: int) -> Tensor:
        square_sum = torch.sum(x * x, dim=axis, keepdim=True)
        if self.keras_version >= 3:  # keras.ops.normalize: min(rsqrt(s), 1 / epsilon)
            return x * torch.clamp(torch.rsqrt(square_sum), max=1.0 / 1e-7)
        return x * torch.rsqrt(torch.clamp(square_sum, min=1e-12))  # tf.linalg.l2_normalize

    def forward(self, inputs: Any, *more: Any, mask: Any = None, training: bool | None = None) -> Tensor:
        xs, _, _ = self._split(inputs, more, mask, training)
        a0, a1 = self._resolve(xs)
        x, y = xs
        if x.shape[a0] != y.shape[a1]:
            raise ValueError(
                f"Dot: incompatible input shapes {self._shapes(xs)} with axes={self.axes}: "
                f"{x.shape[a0]} (axis {a0}) != {y.shape[a1]} (axis {a1})"
            )
        if self.normalize:
            x, y = self._l2_normalize(x, a0), self._l2_normalize(y, a1)
        return batch_dot(x, y, (a0, a1))

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        """None: a Dot output has no mask (Keras, both generations)."""
        return None
