"""Keras's ``StackedRNNCells``: several cells run as one, each cell's output the next one's input.

The layer (:class:`~.rnn.RNN`) runs a stack member by member over the whole sequence, each
member on the same engine as a single cell (torch's fused kernel or the sequence runner, with
its own dropout masks). That computes what Keras's per-step stacking computes: at a masked step
every member carries its states, and the next member never uses the repeated output it gets
there. States are the members' states in order, as Keras lists them (flattened in
``return_state``); weights are the members' own, in cell order.

>>> import torch, keraslike_torch as kt
>>> stack = kt.StackedRNNCells([kt.LSTMCell(4), kt.GRUCell(2)])
>>> y, h1, c1, h2 = kt.RNN(stack, return_state=True)(torch.zeros(3, 5, 6))
>>> tuple(y.shape), tuple(c1.shape), stack.state_sizes
((3, 2), (3, 4), [4, 4, 2])
>>> [tuple(w.shape) for w in stack.get_keras_weights()][:4]
[(6, 16), (4, 16), (16,), (4, 6)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor, nn

from .base_cell import RecurrentCell

__all__ = ["StackedRNNCells"]


class StackedRNNCells(nn.Module):
    """Keras ``StackedRNNCells(cells)``: a list of :class:`RecurrentCell` run as one cell by
    :class:`~keraslike_torch.RNN`. Sized from the first input like the cells (member ``k + 1``
    takes member ``k``'s units)."""

    keras_class = "StackedRNNCells"

    def __init__(self, cells: Sequence[RecurrentCell]) -> None:
        super().__init__()
        cells = list(cells) if isinstance(cells, (list, tuple, nn.ModuleList)) else cells
        if not isinstance(cells, list) or not cells:
            raise ValueError("StackedRNNCells needs a non-empty list of cells")
        for k, cell in enumerate(cells):
            if not isinstance(cell, RecurrentCell):
                raise TypeError(
                    f"StackedRNNCells: cells[{k}] must be an LSTMCell, GRUCell or SimpleRNNCell, "
                    f"got {type(cell).__name__}"
                )
        for k in range(1, len(cells)):
            size = cells[k].input_size
            if size is not None and size != cells[k - 1].units:
                raise ValueError(
                    f"StackedRNNCells: cells[{k}] takes {size} input features but cells[{k - 1}] "
                    f"outputs {cells[k - 1].units}"
                )
        self.cells = nn.ModuleList(cells)

    # ---- what the layer asks of a cell ---------------------------------------------------------

    @property
    def members(self) -> tuple[RecurrentCell, ...]:
        return tuple(self.cells)  # type: ignore[arg-type]

    @property
    def units(self) -> int:
        """The output size: the last cell's units."""
        return self.members[-1].units

    @property
    def state_count(self) -> int:
        return sum(c.state_count for c in self.members)

    @property
    def state_sizes(self) -> list[int]:
        """The size of each state, in Keras's order (each cell's states in turn)."""
        return state_sizes(self)

    @property
    def input_size(self) -> int | None:
        return self.members[0].input_size

    @property
    def built(self) -> bool:
        return all(c.built for c in self.members)

    @property
    def weight_hh(self) -> Tensor:
        """The first cell's recurrent kernel (the layer's reference for dtype and device)."""
        return self.members[0].weight_hh

    @property
    def use_bias(self) -> bool:
        return all(c.use_bias for c in self.members)

    @property
    def dropout(self) -> float:
        return 0.0  # each member has its own rates

    recurrent_dropout = dropout

    def build(self, size: int, initialize: bool = True) -> None:
        """Size every member: the first for ``size`` input features, each next one for its
        predecessor's units."""
        for cell in self.members:
            cell.build(size, initialize)
            size = cell.units

    def fused_mode(self) -> str | None:
        return None  # the layer runs the members one by one, each on its own kernel

    def extra_repr(self) -> str:
        return f"state_sizes={self.state_sizes}"

    # ---- Keras weights ------------------------------------------------------------------------

    def _input_sizes(self, input_size: int | None) -> list[int | None]:
        sizes: list[int | None] = [input_size if input_size is not None else self.input_size]
        sizes += [c.units for c in self.members[:-1]]
        return sizes

    def keras_weight_shapes(self, input_size: int | None = None) -> list[tuple[int, ...]]:
        """The members' Keras weight shapes, in cell order."""
        out: list[tuple[int, ...]] = []
        for cell, d in zip(self.members, self._input_sizes(input_size)):
            out += cell.keras_weight_shapes(d)
        return out

    def _split(self, weights: Sequence[Any]) -> list[list[Any]]:
        weights = list(weights)
        counts = [len(c.keras_weight_shapes(1)) for c in self.members]
        if len(weights) != sum(counts):
            raise ValueError(
                f"StackedRNNCells expects {sum(counts)} weights ({' + '.join(map(str, counts))}, "
                f"cell by cell), got {len(weights)}"
            )
        out, start = [], 0
        for n in counts:
            out.append(weights[start:start + n])
            start += n
        return out

    def check_keras_weights(self, weights: Sequence[Any]) -> list[Tensor]:
        """Validate all members' arrays (each member's kernel must take its predecessor's units)."""
        parts = self._split(weights)
        out: list[Tensor] = []
        for k, (cell, arrays) in enumerate(zip(self.members, parts)):
            if k > 0 and not cell.built and arrays and np.ndim(arrays[0]) == 2:
                if int(np.shape(arrays[0])[0]) != self.members[k - 1].units:
                    raise ValueError(
                        f"StackedRNNCells: cells[{k}]'s kernel has shape {tuple(np.shape(arrays[0]))}, "
                        f"expected ({self.members[k - 1].units}, ...) (cells[{k - 1}]'s units)"
                    )
            out += cell.check_keras_weights(arrays)
        return out

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set all members' weights (Keras ``get_weights()`` order, cell by cell). Atomic."""
        self.check_keras_weights(weights)
        for cell, arrays in zip(self.members, self._split(weights)):
            cell.set_keras_weights(arrays)

    def get_keras_weights(self) -> list[np.ndarray]:
        return [w for c in self.members for w in c.get_keras_weights()]

    def keras_gradients(self) -> list[Tensor | None]:
        return [g for c in self.members for g in c.keras_gradients()]

    def reset_parameters(self) -> None:
        for cell in self.members:
            cell.reset_parameters()

    def torch_params(self) -> dict[str, Tensor]:
        return {f"cells.{k}.{n}": p for k, c in enumerate(self.members) for n, p in c.torch_params().items()}


def cell_members(cell: Any) -> tuple[RecurrentCell, ...]:
    """The cells a layer runs one after the other: a stack's members, else the cell itself."""
    return cell.members if isinstance(cell, StackedRNNCells) else (cell,)


def state_sizes(cell: Any) -> list[int]:
    """Each state's size (a stack's members' states in turn)."""
    return [c.units for c in cell_members(cell) for _ in range(c.state_count)]

