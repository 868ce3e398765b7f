"""Keras 3 operations that appear as nodes of functional model configs, as modules.

Keras 3 records the masks of a functional model as explicit operations (``NotEqual``, ``Any``,
``ExpandDims``, ``LogicalOr``, ``Concatenate``, ...) whose outputs are passed to layers as
``mask=``. A :class:`KerasOp` applies one; the functions that build them from an op's config,
registered under ``ops.<ClassName>``, are with the other converters (:mod:`keraslike_torch.converters`).

>>> import torch
>>> op = KerasOp("LogicalNot", torch.logical_not)
>>> op(torch.tensor([True, False])).tolist()
[False, True]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["KerasOp", "OP_BUILDERS"]

# Op name -> function building the op's callable from its config. Filled by
# the ops converters (imported with keraslike_torch); used to rebuild a pickled op.
OP_BUILDERS: dict[str, Callable[[dict], Callable[..., Any]]] = {}


class KerasOp(nn.Module):
    """A Keras 3 op as a module: ``forward(*args)`` applies ``fn`` with the op's config."""

    def __init__(self, op_name: str, fn: Callable[..., Any], name: str | None = None,
                 op_config: dict | None = None) -> None:
        super().__init__()
        self.op_name = op_name
        self.fn = fn
        self.name = name
        self.op_config = dict(op_config or {})

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)

    def __getstate__(self) -> dict[str, Any]:
        # ``fn`` is a closure over the op's config: pickle the config and rebuild it from there.
        state = super().__getstate__()
        if self.op_name in OP_BUILDERS:
            state.pop("fn", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "fn" not in self.__dict__:
            self.fn = OP_BUILDERS[self.op_name](self.op_config)

    def extra_repr(self) -> str:
        return self.op_name

    def get_keras_weights(self) -> list:
        return []

    def keras_weight_shapes(self) -> list:
        return []

    def set_keras_weights(self, weights: list) -> None:
        if len(weights):
            raise ValueError(f"op {self.op_name} has no weights, got {len(weights)}")
