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

from ..common.config import check_rate
from .base_cell import RecurrentCell
from .stacked import StackedRNNCells

__all__ = ["DropoutMasks"]


class DropoutMasks:
    """Mixin of :class:`~keraslike_torch.recurrent.RNN`: draws (or takes forced) dropout masks."""

    cell: Any  # a RecurrentCell or a StackedRNNCells of them
    implementation: int
    _forced_dropout_masks: tuple[Any, Any] | None

    def _set_cell_dropout(self, **rates: float) -> None:
        """``RNN(cell, dropout=r)``: Keras keeps the rates on the cell (``LSTMCell(4, dropout=r)``);
        a rate given to the layer goes there (0 keeps the cell's)."""
        for key, value in rates.items():
            rate = check_rate(key, value)
            if not rate:
                continue
            if isinstance(self.cell, StackedRNNCells):
                raise ValueError(f"RNN with StackedRNNCells: give {key} to the cells (LSTMCell(..., {key}={rate}))")
            if getattr(self.cell, key) not in (0.0, rate):
                raise ValueError(f"RNN: {key}={rate} but its cell has {key}={getattr(self.cell, key)}")
            setattr(self.cell, key, rate)

    @property
    def dropout(self) -> float:
        """The input dropout rate; Keras keeps it on the cell (a stack's members have their own)."""
        return self.cell.dropout

    @property
    def recurrent_dropout(self) -> float:
        return self.cell.recurrent_dropout

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Modules pickled before the rates moved to the cell kept them on the layer.
        old = {k: state.pop(k) for k in ("dropout", "recurrent_dropout") if k in state}
        super().__setstate__(state)  # type: ignore[misc]
        for key, value in old.items():
            setattr(self.cell, key, value)

    def _per_gate_dropout(self, cell: RecurrentCell | None = None) -> bool:
        cell = self.cell if cell is None else cell
        # A stack's members use Keras's default implementation (2; 1 with recurrent dropout).
        impl = self.implementation if cell is self.cell else (1 if cell.recurrent_dropout > 0 else 2)
        return cell.gates > 1 and impl == 1

    def _dropout_masks(self, x: Tensor, training: bool,
                       cell: RecurrentCell | None = None) -> tuple[Tensor | None, Tensor | None]:
        """Keras's dropout masks for ``cell`` (default: the layer's) from its rates: one per
        sequence, reused at every step; per gate when ``implementation == 1`` (which recurrent
        dropout forces), shape (G, B, n), else (B, d)."""
        cell = self.cell if cell is None else cell
        if not training or not (cell.dropout or cell.recurrent_dropout):
            return None, None
        if self._forced_dropout_masks is not None:
            if cell is not self.cell:
                raise ValueError("forced dropout masks (testing.dropout_masks) are not supported for StackedRNNCells")
            return self._forced_masks(x)
        batch, g = x.shape[0], cell.gates
        step = tuple(x.shape[2:])
        state = self._state_feature_shape(x) if cell is self.cell else (cell.units,)

        def draw(rate: float, shape: tuple[int, ...]) -> Tensor:
            keep = 1.0 - rate
            return torch.bernoulli(x.new_full(shape, keep)) / keep

        dmask = rmask = None
        if 0.0 < cell.dropout:
            shape = (g, batch, *step) if self._per_gate_dropout(cell) else (batch, *step)
            dmask = draw(cell.dropout, shape)
        if 0.0 < cell.recurrent_dropout:
            rmask = draw(cell.recurrent_dropout, (g if g > 1 else 1, batch, *state))
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

        dmask = convert(inp, self._per_gate_dropout()) if self.cell.dropout > 0 else None
        rmask = None
        if self.cell.recurrent_dropout > 0:
            rmask = convert(rec, True)
            if rmask is not None and self.cell.gates == 1:
                rmask = rmask[:1]
        return dmask, rmask
