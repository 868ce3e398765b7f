"""Keras's dropout masks for a recurrent layer (as Keras's ``DropoutRNNCell`` draws them): one
mask per sequence, reused at every step, and one per gate with ``implementation=1`` (which
recurrent dropout forces). :func:`keraslike_torch.testing.dropout_masks` can force given masks,
in Keras gate order, for parity tests.

>>> import torch, keraslike_torch as kt
>>> lstm = kt.LSTM(2, input_size=3, dropout=0.5, recurrent_dropout=0.5)
>>> d, r = lstm._dropout_masks(torch.zeros(5, 4, 3), training=True)
>>> tuple(d.shape), tuple(r.shape)
((4, 5, 3), (4, 5, 2))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base_cell import RecurrentCell

__all__ = ["DropoutMasks"]


class DropoutMasks:
    """Mixin of :class:`~keraslike_torch.recurrent.RNN`: draws (or takes forced) dropout masks."""

    cell: RecurrentCell
    dropout: float
    recurrent_dropout: float
    implementation: int
    _forced_dropout_masks: tuple[Any, Any] | None

    def _per_gate_dropout(self) -> bool:
        return self.cell.gates > 1 and self.implementation == 1

    def _dropout_masks(self, x: Tensor, training: bool) -> tuple[Tensor | None, Tensor | None]:
        """Keras's dropout masks: one per sequence, reused at every step; per gate when
        ``implementation == 1`` (which recurrent dropout forces), shape (G, B, n), else (B, d)."""
        if not training:
            return None, None
        if self._forced_dropout_masks is not None:
            return self._forced_masks(x)
        batch, g = x.shape[0], self.cell.gates
        step, state = tuple(x.shape[2:]), self._state_feature_shape(x)

        def draw(rate: float, shape: tuple[int, ...]) -> Tensor:
            keep = 1.0 - rate
            return torch.bernoulli(x.new_full(shape, keep)) / keep

        dmask = rmask = None
        if 0.0 < self.dropout:
            shape = (g, batch, *step) if self._per_gate_dropout() else (batch, *step)
            dmask = draw(self.dropout, shape)
        if 0.0 < self.recurrent_dropout:
            rmask = draw(self.recurrent_dropout, (g if g > 1 else 1, batch, *state))
        return dmask, rmask

    def _state_feature_shape(self, x: Tensor) -> tuple[int, ...]:
        """A state's shape without the batch axis for the input ``x``: ``(units,)`` (the
        convolutional layers: ``(filters, *output spatial dims)``)."""
        return (self.cell.units,)

    def _forced_masks(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Masks given in Keras gate order through :func:`keraslike_torch.testing.dropout_masks`."""
        inp, rec = self._forced_dropout_masks  # type: ignore[misc]
        order = self.cell.runner_gate_keras_order()

        def convert(m: Any, per_gate: bool) -> Tensor | None:
            if m is None:
                return None
            if isinstance(m, (list, tuple)):
                ts = [torch.as_tensor(np.asarray(a)).to(x.device, x.dtype) for a in m]
                if per_gate and len(ts) == len(order):
                    return torch.stack([ts[k] for k in order])
                return ts[0] if not per_gate else torch.stack([ts[0]] * len(order))
            t = torch.as_tensor(np.asarray(m)).to(x.device, x.dtype)
            return torch.stack([t] * len(order)) if per_gate else t

        dmask = convert(inp, self._per_gate_dropout()) if self.dropout > 0 else None
        rmask = None
        if self.recurrent_dropout > 0:
            rmask = convert(rec, True)
            if rmask is not None and self.cell.gates == 1:
                rmask = rmask[:1]
        return dmask, rmask
