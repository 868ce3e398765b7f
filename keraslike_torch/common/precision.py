"""Low-precision compute for the recurrent layers: ``torch.autocast`` and ``.to(bfloat16/float16)``.

The precision model is ``torch.nn.LSTM``'s: under ``torch.autocast`` its output is bit for bit the
output of the same module cast with ``.to(autocast dtype)`` (input, states and weights cast, the
whole recurrence computed in that dtype, outputs and states returned in it). Every recurrent path
here (fused kernels, the masked fused path and the sequence runner) does the same: :func:`amp_dtype`
says whether autocast applies, the layer casts its input, states and weights once and runs with
autocast switched off inside, so that no op inside the recurrence is cast again (mixing dtypes in
the runner's in-place steps) or upcast to float32 (autocast's float32 list). Gradients flow back to
the float32 parameters through the casts.

As in torch, autocast ignores float64: a float64 layer under autocast computes in float64.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor

__all__ = ["amp_dtype", "autocast_enabled", "autocast_off", "cast_all", "mismatch_hint"]

_ELIGIBLE = (torch.float32, torch.float16, torch.bfloat16)


def autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (any torch >= 2.1)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))  # torch >= 2.4
    except (TypeError, RuntimeError):
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        if device_type == "cuda":
            return bool(torch.is_autocast_enabled())
        return False


def _autocast_dtype(device_type: str) -> torch.dtype:
    try:
        return torch.get_autocast_dtype(device_type)  # torch >= 2.4
    except (AttributeError, TypeError, RuntimeError):
        if device_type == "cpu":
            return torch.get_autocast_cpu_dtype()
        return torch.get_autocast_gpu_dtype()


def amp_dtype(x: Tensor, weight: Tensor) -> torch.dtype | None:
    """The dtype ``torch.autocast`` computes a recurrent layer in, or None when autocast is off on
    ``x``'s device or does not apply (float64 input or weights, which autocast leaves alone)."""
    device_type = x.device.type
    if not autocast_enabled(device_type) or x.dtype not in _ELIGIBLE or weight.dtype not in _ELIGIBLE:
        return None
    return _autocast_dtype(device_type)


def autocast_off(device_type: str, active: bool = True) -> AbstractContextManager:
    """A context with autocast disabled on ``device_type`` (a no-op context when not ``active``)."""
    if not active:
        return nullcontext()
    return torch.autocast(device_type, enabled=False)


def cast_all(tensors: tuple[Tensor, ...] | list[Tensor], dtype: torch.dtype | None) -> list[Tensor]:
    """``tensors`` in ``dtype`` (differentiable casts; those already in it, and all when ``dtype``
    is None, are returned as they are)."""
    if dtype is None:
        return list(tensors)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def mismatch_hint(x: Tensor, weight: Tensor) -> str:
    """How to fix an input whose dtype differs from the weights' (for error messages)."""
    hint = f"cast the input or the layer (layer.to({x.dtype}))"
    if x.dtype in _ELIGIBLE and weight.dtype in _ELIGIBLE:
        return hint + ", or call the layer under torch.autocast"
    return hint + " (torch.autocast does not cast float64)"
