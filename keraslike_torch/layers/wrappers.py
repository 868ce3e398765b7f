"""Keras ``TimeDistributed``. Its converter is in
:mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import Dense, TimeDistributed
>>> TimeDistributed(Dense(2, input_size=3))(torch.zeros(4, 5, 3)).shape
torch.Size([4, 5, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..common.config import as_bool_mask
from ._checks import check_tensor
from .base import KerasLayer

__all__ = ["TimeDistributed"]


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
    >>> from keraslike_torch.layers import Conv1D
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
        x = check_tensor(self, inputs, 3)
        batch, steps = x.shape[0], x.shape[1]
        m = None
        if mask is not None:
            m = as_bool_mask(mask, x.device)
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
            mask = as_bool_mask(mask, inputs.device)
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

