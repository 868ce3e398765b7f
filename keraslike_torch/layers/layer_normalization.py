"""Keras ``LayerNormalization``: tf-keras's fused and unfused formulas, Keras 3's
``rms_scaling``; masks pass through. Its converter is in
:mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import LayerNormalization
>>> LayerNormalization(axis=[1, 2])(torch.zeros(2, 3, 4)).shape
torch.Size([2, 3, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import initializers as _initializers
from ..common.config import loaded_shape
from ._checks import cast_like, check_tensor, dtype_buffer, numpy, positive_int, weight_shape
from .base import KerasLayer, check_weights
from .normalization import _TensorListWeights

__all__ = ["LayerNormalization"]


class LayerNormalization(_TensorListWeights, KerasLayer):
    """Keras ``LayerNormalization`` over ``axis`` (one axis or several) of each sample.

    gamma/beta have the shape of the normalized axes (in the order given; Keras 3 sorts them).
    In float32 with trailing contiguous axes and ``epsilon >= 1.001e-5`` tf-keras computes
    ``(x - mean) * rsqrt(var + eps) * gamma + beta`` (its fused path), otherwise
    ``x * inv + (beta - mean * inv)`` with ``inv = rsqrt(var + eps) * gamma``; this layer does the
    same. Keras 3's deprecated ``rms_scaling=True`` computes ``x * rsqrt(var + eps) * gamma``
    (no centering, no beta). Masks pass through unchanged.

    >>> import torch
    >>> ln = LayerNormalization(epsilon=1e-6)
    >>> y = ln(torch.tensor([[1.0, 2.0, 3.0]]))
    >>> [round(v, 4) for v in y.flatten().tolist()], ln.count_params()
    ([-1.2247, 0.0, 1.2247], 6)
    """

    keras_class = "LayerNormalization"
    supports_masking = True
    _dtype_ref: Tensor

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        *,
        rms_scaling: bool = False,
        beta_initializer: _initializers.InitializerLike = "zeros",
        gamma_initializer: _initializers.InitializerLike = "ones",
        param_shape: Sequence[int] | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        axes = list(axis) if isinstance(axis, Sequence) and not isinstance(axis, str) else [axis]
        if not axes or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes
        ):
            raise ValueError(
                f"{kind}: axis must be an integer or a non-empty list of integers, got {axis!r}"
            )
        self.axis = [int(a) for a in axes]
        if keras_version >= 3:
            self.axis = sorted(self.axis)
        self.epsilon = float(epsilon)
        self.rms_scaling = bool(rms_scaling)
        self.center = bool(center) and not self.rms_scaling
        self.scale = bool(scale) or self.rms_scaling
        self.keras_version = int(keras_version)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        factory = {"device": device, "dtype": dtype}
        self.param_shape: tuple[int, ...] | None = None
        dtype_buffer(self, device, dtype)
        self.gamma = nn.UninitializedParameter(**factory) if self.scale else None
        self.beta = nn.UninitializedParameter(**factory) if self.center else None
        if param_shape is not None:
            self.build(
                tuple(positive_int(f"{kind}: param_shape", d, single=True) for d in param_shape)
            )

    size_attr = "param_shape"
    size_what = "normalized shape"

    def _materialize(self, param_shape: tuple[int, ...]) -> None:
        param_shape = tuple(int(d) for d in param_shape)
        if len(param_shape) != len(self.axis):
            raise ValueError(
                f"{type(self).__name__}: param_shape {param_shape} must have one size per axis "
                f"{self.axis}"
            )
        with torch.no_grad():
            for t in self._tensors():
                t.materialize(param_shape)  # type: ignore[attr-defined]
        self.param_shape = param_shape

    def _tensors(self) -> list[Tensor]:
        return [t for t in (self.gamma, self.beta) if t is not None]

    def reset_parameters(self) -> None:
        """Initialize gamma and beta with the Keras initializers."""
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet (call it once or set weights)"
            )
        inits = ([self.gamma_initializer] if self.scale else []) + (
            [self.beta_initializer] if self.center else []
        )
        self._assign(
            [
                init(torch.empty(t.shape, dtype=t.dtype, device=t.device))
                for t, init in zip(self._tensors(), inits, strict=True)
            ]
        )

    def built_config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this layer as it is now (size and dtype)."""
        return {"param_shape": self.param_shape, "dtype": self._dtype_ref.dtype}

    def extra_repr(self) -> str:
        return (
            f"param_shape={self.param_shape}, axis={self.axis}, epsilon={self.epsilon}, "
            f"center={self.center}, scale={self.scale}"
            + (", rms_scaling=True" if self.rms_scaling else "")
        )

    def keras_weight_shapes(
        self, param_shape: tuple[int, ...] | None = None
    ) -> list[tuple[int, ...]]:
        shape = self.param_shape if param_shape is None else param_shape
        n = len(self._tensors())
        if shape is None:
            if n == 0:
                return []
            raise RuntimeError(
                f"{type(self).__name__} is not built yet: its weight shapes depend on the input"
            )
        return [tuple(shape)] * n

    def get_keras_weights(self) -> list[np.ndarray]:
        """``[gamma (if scale), beta (if center)]``."""
        return [numpy(t) for t in self._tensors()] if self.built else []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        tensors = self._tensors()
        shape = self.param_shape
        if shape is None and tensors:
            shape = weight_shape(weights, 0, len(self.axis)) or (1,) * len(self.axis)
        ref = tensors[0] if tensors else self._dtype_ref
        dtype, device = ref.dtype, ref.device
        arrays = check_weights(label, weights, self.keras_weight_shapes(shape), dtype, device)
        if not tensors:
            return
        if not self.built:
            self.build(shape, initialize=False)  # type: ignore[arg-type]
        self._assign(arrays)


    def keras_param_counts(self) -> tuple[int, int]:
        if not self.built:
            return 0, 0
        return super().keras_param_counts()

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = check_tensor(self, inputs, 1)
        ndim = x.dim()
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"{type(self).__name__}: axis {a} is out of range for an input of shape "
                    f"{tuple(x.shape)}"
                )
        axes = [a % ndim for a in self.axis]
        if len(set(axes)) != len(axes):
            raise ValueError(
                f"{type(self).__name__}: duplicate axes {self.axis} for an input of rank {ndim}"
            )
        tensors = self._tensors()
        if tensors:
            shape = tuple(int(x.shape[a]) for a in axes)
            if self.built and shape != self.param_shape:
                raise ValueError(
                    f"{type(self).__name__} expects normalized axes {self.axis} of sizes "
                    f"{self.param_shape}, "
                    f"got {shape} in input of shape {tuple(x.shape)}"
                )
            if not self.built:
                self.build(shape)
            x = cast_like(self, x, tensors[0])
        else:
            x = cast_like(self, x, self._dtype_ref)
        bshape = [1] * ndim
        for a in axes:
            bshape[a] = x.shape[a]
        gamma = self.gamma.reshape(bshape) if self.gamma is not None else None
        beta = self.beta.reshape(bshape) if self.beta is not None else None
        mean = x.mean(axes, keepdim=True)
        variance = (x - mean).square().mean(axes, keepdim=True)
        if self.rms_scaling:
            out = x * torch.rsqrt(variance + self.epsilon)
            return out * gamma if gamma is not None else out
        srt = sorted(axes)
        fused = (
            self.keras_version < 3
            and x.dtype == torch.float32
            and self.epsilon >= 1.001e-5
            and srt[-1] == ndim - 1
            and srt[-1] - srt[0] == len(srt) - 1
        )
        if fused:
            out = (x - mean) * torch.rsqrt(variance + self.epsilon)
            if gamma is not None:
                out = out * gamma
            return out + beta if beta is not None else out
        inv = torch.rsqrt(variance + self.epsilon)
        if gamma is not None:
            inv = inv * gamma
        offset = beta - mean * inv if beta is not None else -mean * inv
        return x * inv + offset

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in (prefix + "gamma", prefix + "beta"):
            shape = loaded_shape(state_dict, key)  # None: absent or unbuilt
            if not self.built and shape is not None and self._tensors():
                self.build(shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

