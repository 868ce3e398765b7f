"""Argument checks and small helpers shared by the layer modules (one copy each)."""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor, nn

from .base import KerasLayer

__all__ = [
    "positive_int", "int_tuple", "rate", "check_data_format", "as_tensor", "check_tensor", "cast_like",
    "dtype_buffer", "weight_shape", "numpy", "ParameterFree", "LayerOptions",
]


class LayerOptions(TypedDict, total=False):
    """The keywords every weightless layer takes (``**options: Unpack[LayerOptions]``)."""

    keras_version: int
    name: str | None
    device: Any
    dtype: torch.dtype | None


def positive_int(what: str, value: Any, allow_zero: bool = False, single: bool = False) -> int:
    """``value`` as an int >= 1 (>= 0 with ``allow_zero``); ``single``: a one-element list or
    tuple is accepted as its element (1-D layers' ``kernel_size=(3,)``). ``what`` names the
    argument in the error (``"Dense units"``, ``"Conv1D: strides"``).

    >>> positive_int("Conv1D: strides", (2,), single=True)
    2
    """
    if single and isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{what} must be one integer (1-D layer), got {value!r}")
        value = value[0]
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{what} must be a {kind} integer, got {value!r}")
    return int(value)


def int_tuple(what: str, value: Any, rank: int, allow_zero: bool = False) -> tuple[int, ...]:
    """``value`` as ``rank`` integers >= 1 (>= 0 with ``allow_zero``): one integer is repeated, a
    list or tuple must have ``rank`` entries (Keras's ``standardize_tuple``). ``what`` names the
    argument in the error (``"MaxPooling2D: pool_size"``).

    >>> int_tuple("MaxPooling2D: pool_size", 2, 2), int_tuple("Cropping2D: cropping", [0, 3], 2, True)
    ((2, 2), (0, 3))
    """
    if isinstance(value, (list, tuple)):
        if len(value) != rank:
            raise ValueError(f"{what} must be one integer or {rank} integers, got {value!r}")
        return tuple(positive_int(what, v, allow_zero) for v in value)
    return (positive_int(what, value, allow_zero),) * rank


def rate(what: str, value: Any) -> float:
    """A probability in [0, 1] (dropout rates)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {value}")
    return float(value)


def check_data_format(value: Any, layer: str) -> str:
    """``"channels_last"`` (also for None) or ``"channels_first"``."""
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return fmt


def as_tensor(x: Any, what: str = "inputs") -> Tensor:
    """A tensor, or a numpy array as one; anything else is a TypeError."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.as_tensor(x)
    raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")


def check_tensor(layer: nn.Module, x: Any, min_ndim: int, ndim: int | None = None) -> Tensor:
    """A floating-point tensor of rank ``ndim`` (or at least ``min_ndim``), errors naming the layer."""
    kind = type(layer).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{kind} expects a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{kind} expects floating-point input, got {x.dtype}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{kind} expects a {ndim}-D input; got shape {tuple(x.shape)}")
    if x.dim() < min_ndim:
        raise ValueError(
            f"{kind} expects an input with at least {min_ndim} dimensions; got shape "
            f"{tuple(x.shape)}"
        )
    return x


def cast_like(layer: nn.Module, x: Tensor, ref: Tensor) -> Tensor:
    """``x`` in ``ref``'s dtype (Keras casts floating-point inputs to the layer's compute dtype);
    a device mismatch is an error."""
    if x.device != ref.device:
        raise ValueError(
            f"input is on {x.device} but the {type(layer).__name__} layer's weights are on "
            f"{ref.device}"
        )
    return x if x.dtype == ref.dtype else x.to(ref.dtype)


def dtype_buffer(layer: nn.Module, device: Any, dtype: torch.dtype | None) -> None:
    """A zero-size buffer ``_dtype_ref`` that carries a layer's dtype and device through
    ``.to()``/``.double()``."""
    layer.register_buffer(
        "_dtype_ref",
        torch.empty(0, dtype=dtype or torch.get_default_dtype(), device=device),
        persistent=False,
    )


def weight_shape(weights: Any, index: int, rank: int) -> tuple[int, ...] | None:
    """Shape of ``weights[index]`` when it is an array of ``rank`` dims (to size a lazy layer)."""
    try:
        shape = tuple(int(d) for d in np.shape(weights[index]))
    except Exception:
        return None
    return shape if len(shape) == rank else None


def numpy(t: Tensor) -> np.ndarray:
    """A detached numpy copy (what ``get_keras_weights`` returns)."""
    return t.detach().cpu().numpy().copy()


class ParameterFree(KerasLayer):
    """A layer without weights that still has a dtype: a zero-size buffer follows ``.to()``."""

    _dtype_ref: Tensor

    def __init__(
        self,
        name: str | None = None,
        keras_version: int = 3,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        self.keras_version = int(keras_version)
        dtype_buffer(self, device, dtype)

    @property
    def dtype(self) -> torch.dtype:
        """The layer's compute dtype (Keras casts floating-point inputs to it)."""
        return self._dtype_ref.dtype

    def _cast(self, x: Any) -> Tensor:
        t = as_tensor(x)
        if t.is_floating_point() and t.dtype != self._dtype_ref.dtype:
            t = t.to(self._dtype_ref.dtype)
        return t
