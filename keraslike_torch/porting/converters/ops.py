"""Converters of the Keras 3 ops recorded in functional model configs (``ops.<ClassName>``):
each builds a :class:`keraslike_torch.layers.KerasOp` from the op's config.

>>> import torch, keraslike_torch as kt
>>> op = kt.converters.convert_layer("ops.Any", {"axis": -1})
>>> op(torch.tensor([[True, False], [False, False]])).tolist()
[True, False]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ...layers.ops import OP_BUILDERS, KerasOp
from ..registry import ConvertContext, UnsupportedLayerError, register, torch_dtype


def _t(x: Any, like: Tensor | None = None) -> Any:
    if isinstance(x, Tensor) or like is None:
        return x
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _axis(config: dict, default: Any = None) -> Any:
    axis = config.get("axis", default)
    return tuple(axis) if isinstance(axis, list) else axis


def _reduce(fn: Callable[..., Tensor]) -> Callable[[dict], Callable[..., Tensor]]:
    def make(config: dict) -> Callable[..., Tensor]:
        axis, keepdims = _axis(config), bool(config.get("keepdims", False))

        def op(x: Tensor) -> Tensor:
            if axis is None:
                out = fn(x)
                return out.reshape([1] * x.dim()) if keepdims else out
            return fn(x, dim=axis, keepdim=keepdims)

        return op

    return make


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable[[dict], Callable[..., Tensor]]:
    def make(config: dict) -> Callable[..., Tensor]:
        def op(a: Any, b: Any) -> Tensor:
            if not isinstance(a, Tensor):
                a = _t(a, b)
            return fn(a, _t(b, a))

        return op

    return make


def _expand_dims(config: dict) -> Callable[..., Tensor]:
    axis = _axis(config)
    return lambda x: torch.unsqueeze(x, axis)


def _squeeze(config: dict) -> Callable[..., Tensor]:
    axis = _axis(config)
    return (lambda x: torch.squeeze(x)) if axis is None else (lambda x: torch.squeeze(x, axis))


def _concatenate(config: dict) -> Callable[..., Tensor]:
    axis = _axis(config, 0)
    return lambda xs: torch.cat(list(xs), dim=axis)


def _dtype_of(name: Any, where: str = "") -> torch.dtype | None:
    if name is None:
        return None
    ints = {"bool": torch.bool, "int32": torch.int32, "int64": torch.int64, "int8": torch.int8,
            "uint8": torch.uint8, "int16": torch.int16}
    return ints.get(name) or torch_dtype(name, where=where)


def _like(fn: Callable[..., Tensor], config: dict) -> Callable[..., Tensor]:
    dtype = _dtype_of(config.get("dtype"), f"layer {str(config.get('name', '?'))!r}")
    return lambda x: fn(x, dtype=dtype) if dtype is not None else fn(x)


def _cast(config: dict) -> Callable[..., Tensor]:
    dtype = _dtype_of(config.get("dtype"), f"layer {str(config.get('name', '?'))!r}")
    return lambda x: x.to(dtype)


def _convert_to_tensor(config: dict) -> Callable[..., Tensor]:
    """``ops.convert_to_tensor`` (Keras 3 records it for Attention's output mask)."""
    dtype = _dtype_of(config.get("dtype"))
    return (lambda x: x) if dtype is None else (lambda x: torch.as_tensor(x).to(dtype))


_OPS: dict[str, Callable[[dict], Callable[..., Any]]] = {
    "NotEqual": _binary(torch.ne),
    "Equal": _binary(torch.eq),
    "Greater": _binary(torch.gt),
    "Less": _binary(torch.lt),
    "LogicalOr": _binary(torch.logical_or),
    "LogicalAnd": _binary(torch.logical_and),
    "LogicalNot": lambda c: torch.logical_not,
    "Any": _reduce(torch.any),
    "All": _reduce(torch.all),
    "ExpandDims": _expand_dims,
    "Squeeze": _squeeze,
    "ZerosLike": lambda c: _like(torch.zeros_like, c),
    "OnesLike": lambda c: _like(torch.ones_like, c),
    "Concatenate": _concatenate,
    "Cast": _cast,
    "ConvertToTensor": _convert_to_tensor,
}


def _make_converter(
    op_name: str, factory: Callable[[dict], Callable[..., Any]]
) -> Callable[[dict, ConvertContext], nn.Module]:
    def convert(config: dict, ctx: ConvertContext) -> nn.Module:
        try:
            fn = factory(config)
        except (KeyError, TypeError, ValueError) as e:
            raise UnsupportedLayerError(f"Keras op {op_name} with config {config!r}: {e}") from None
        return KerasOp(op_name, fn, config.get("name"), config)

    return convert


OP_BUILDERS.update(_OPS)
for _name, _factory in _OPS.items():
    register(f"ops.{_name}")(_make_converter(_name, _factory))
