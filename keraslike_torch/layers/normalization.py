"""Keras ``BatchNormalization`` (and the weight handling shared with ``LayerNormalization``).

The moment formulas and moving-average updates of each Keras generation are reproduced
(``keras_version``); Keras's weight order and shapes are kept in ``get_keras_weights`` /
``set_keras_weights``; masks pass through. The converters are in
:mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import BatchNormalization
>>> bn = BatchNormalization().eval()
>>> bn(torch.ones(2, 3)).shape, bn.keras_param_counts()
(torch.Size([2, 3]), (6, 6))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import initializers as _initializers
from ..common.config import LazyBuild, UninitializedBuffer, as_bool_mask, loaded_shape
from ._checks import cast_like, check_tensor, numpy, positive_int, weight_shape
from .base import KerasLayer, check_weights

__all__ = ["BatchNormalization"]

_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), used by Keras 3's masked batch moments


class _TensorListWeights(LazyBuild):
    """Normalization layers: their Keras weights are exactly ``_tensors()``, in order."""

    def _tensors(self) -> list[Tensor]:
        raise NotImplementedError

    def _assign(self, arrays: Sequence[Tensor]) -> None:
        with torch.no_grad():
            for t, a in zip(self._tensors(), arrays, strict=True):
                t.copy_(a)

    def keras_gradients(self) -> list[Tensor | None]:
        return [t.grad for t in self._tensors()]


class BatchNormalization(_TensorListWeights, KerasLayer):
    """Keras ``BatchNormalization`` over one ``axis`` (the channels; ``-1`` typically).

    Inference (``training`` false, or ``trainable=False`` as in Keras) uses the moving statistics;
    training uses the batch mean and biased variance over all other axes (a mask of the input's
    shape without its last axis weights the steps, as in Keras) and updates the moving
    statistics the way the Keras generation does (``keras_version``): tf-keras
    ``moving -= (moving - batch) * (1 - momentum)``, Keras 3
    ``moving = moving * momentum + batch * (1 - momentum)``. ``synchronized=True`` computes the
    variance as ``E[x^2] - E[x]^2`` as Keras's synchronized path does.

    Keras weights: ``[gamma (if scale), beta (if center), moving_mean, moving_variance]``; the
    moving statistics are buffers and count as non-trainable parameters.

    >>> import torch
    >>> bn = BatchNormalization()
    >>> y = bn(torch.randn(4, 5, 3), training=True)
    >>> bn.keras_param_counts(), [tuple(w.shape) for w in bn.get_keras_weights()]
    ((6, 6), [(3,), (3,), (3,), (3,)])
    """

    keras_class = "BatchNormalization"
    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        *,
        beta_initializer: _initializers.InitializerLike = "zeros",
        gamma_initializer: _initializers.InitializerLike = "ones",
        moving_mean_initializer: _initializers.InitializerLike = "zeros",
        moving_variance_initializer: _initializers.InitializerLike = "ones",
        synchronized: bool = False,
        trainable: bool = True,
        num_features: int | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        if isinstance(axis, Sequence) and not isinstance(axis, str):
            if len(axis) != 1:
                raise ValueError(
                    f"{kind}: normalizing over several axes ({list(axis)}) is not supported"
                )
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{kind}: axis must be an integer, got {axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)
        self.trainable = bool(trainable)
        self.keras_version = int(keras_version)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        factory = {"device": device, "dtype": dtype}
        self.num_features: int | None = None
        self.gamma = nn.UninitializedParameter(**factory) if self.scale else None
        self.beta = nn.UninitializedParameter(**factory) if self.center else None
        self.moving_mean: Tensor
        self.moving_variance: Tensor
        self.register_buffer("moving_mean", UninitializedBuffer(**factory))
        self.register_buffer("moving_variance", UninitializedBuffer(**factory))
        if num_features is not None:
            self.build(positive_int(f"{kind}: num_features", num_features, single=True))

    size_attr = "num_features"
    size_what = "features"

    def _materialize(self, num_features: int) -> None:
        with torch.no_grad():
            for t in self._tensors():
                t.materialize((num_features,))  # type: ignore[attr-defined]
        self.num_features = int(num_features)

    def _tensors(self) -> list[Tensor]:
        return [
            t
            for t in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
            if t is not None
        ]

    def _initializers(self) -> list[Any]:
        inits = [self.gamma_initializer] if self.scale else []
        if self.center:
            inits.append(self.beta_initializer)
        return inits + [self.moving_mean_initializer, self.moving_variance_initializer]

    def reset_parameters(self) -> None:
        """Initialize all four tensors with the Keras initializers."""
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet (call it once or set weights)"
            )
        ref = self.moving_mean
        self._assign(
            [
                init(torch.empty(ref.shape, dtype=ref.dtype, device=ref.device))
                for init in self._initializers()
            ]
        )

    def built_config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this layer as it is now (size and dtype)."""
        return {"num_features": self.num_features, "dtype": self.moving_mean.dtype}

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, axis={self.axis}, momentum={self.momentum}, "
            f"epsilon={self.epsilon}, center={self.center}, scale={self.scale}"
            + ("" if self.trainable else ", trainable=False")
            + (", synchronized=True" if self.synchronized else "")
        )

    # ---- Keras weights ------------------------------------------------------------------------

    def keras_weight_shapes(self, num_features: int | None = None) -> list[tuple[int, ...]]:
        n = self.num_features if num_features is None else num_features
        if n is None:
            raise RuntimeError(
                f"{type(self).__name__} is not built yet: its weight shapes depend on the input"
            )
        return [(n,)] * len(self._initializers())

    def get_keras_weights(self) -> list[np.ndarray]:
        """``[gamma, beta, moving_mean, moving_variance]`` (gamma/beta only if scale/center)."""
        return [numpy(t) for t in self._tensors()] if self.built else []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()``. Atomic; builds an unbuilt layer."""
        label = self.name or type(self).__name__
        n = self.num_features
        if n is None:
            shape = weight_shape(weights, 0, 1)
            n = shape[0] if shape is not None else 1
        ref = self.moving_mean
        arrays = check_weights(label, weights, self.keras_weight_shapes(n), ref.dtype, ref.device)
        if not self.built:
            self.build(n, initialize=False)
        self._assign(arrays)


    def keras_param_counts(self) -> tuple[int, int]:
        if not self.built:
            return 0, 0
        n = int(self.num_features)  # type: ignore[arg-type]
        trainable = n * (int(self.scale) + int(self.center))
        return (trainable, 2 * n) if self.trainable else (0, trainable + 2 * n)

    # ---- forward ------------------------------------------------------------------------------

    def uses_batch_statistics(self, training: bool | None = None) -> bool:
        """Whether a call normalizes with batch statistics (and updates the moving ones)."""
        return self._training(training) and self.trainable

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = check_tensor(self, inputs, 1)
        ndim = x.dim()
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"{type(self).__name__}: axis {self.axis} is out of range for an input of shape "
                f"{tuple(x.shape)}"
            )
        ax = self.axis % ndim
        n = x.shape[ax]
        if self.built and n != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_features} features on axis {self.axis}, "
                f"got {n} "
                f"in input of shape {tuple(x.shape)}"
            )
        if not self.built:
            self.build(int(n))
        x = cast_like(self, x, self.moving_mean)
        shape = [1] * ndim
        shape[ax] = n
        if self.uses_batch_statistics(training):
            reduce = [i for i in range(ndim) if i != ax]
            m = self._mask(mask, x)
            if self._tf_fused(ndim, ax, x.dtype):
                # tf-keras's fused kernel: the mask is ignored (with a warning) and the moving
                # variance is updated with the Bessel-corrected batch variance.
                mean, variance = self._moments(x, reduce, None)
                count = x.numel() // max(n, 1)
                self._update_moving_fused(
                    mean.detach(), variance.detach() * (count / max(count - 1, 1))
                )
            else:
                mean, variance = self._moments(x, reduce, m)
                self._update_moving(mean.detach(), variance.detach())
        else:
            mean, variance = self.moving_mean, self.moving_variance
        # tf.nn.batch_normalization
        inv = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        offset = self.beta - mean * inv if self.beta is not None else -mean * inv
        return x * inv.reshape(shape) + offset.reshape(shape)

    def _mask(self, mask: Any, x: Tensor) -> Tensor | None:
        if mask is None:
            return None
        m = as_bool_mask(mask, x.device)
        expected = tuple(x.shape[:-1])
        if m.dim() != x.dim() - 1:
            raise ValueError(
                f"{type(self).__name__}: the mask must have one dimension less than the input; "
                f"got mask shape {tuple(m.shape)} for input shape {tuple(x.shape)} (expected "
                f"{expected})"
            )
        try:
            m = m.unsqueeze(-1).expand(x.shape)
        except RuntimeError:
            raise ValueError(
                f"{type(self).__name__}: mask shape {tuple(m.shape)} does not broadcast to the "
                "input "
                f"shape {tuple(x.shape)} (expected {expected})"
            ) from None
        return m

    def _moments(self, x: Tensor, reduce: list[int], mask: Tensor | None) -> tuple[Tensor, Tensor]:
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        if mask is not None and self.keras_version >= 3:
            # Keras 3: where-masked sums over (count + backend.epsilon())
            count = mask.to(x.dtype).sum(reduce, keepdim=True) + _KERAS_EPSILON
            mean = torch.where(mask, x, zero).sum(reduce, keepdim=True) / count
            diff = torch.where(mask, x - mean, zero)
            variance = diff.square().sum(reduce, keepdim=True) / count
            return mean.flatten(), variance.flatten()
        if self.synchronized:
            # mean and E[x^2] - mean^2 (clipped at 0), with divide_no_nan
            if mask is not None:
                w = mask.to(x.dtype)
                y, count = x * w, w.sum(reduce, keepdim=True)
            else:
                y, count = x, torch.full(
                    (), math.prod(x.shape[i] for i in reduce), dtype=x.dtype, device=x.device
                )
            safe = torch.where(count == 0, torch.ones_like(count), count)
            mean = torch.where(count == 0, zero, y.sum(reduce, keepdim=True) / safe)
            sq = torch.where(count == 0, zero, y.square().sum(reduce, keepdim=True) / safe)
            variance = torch.clamp_min(sq - mean.square(), 0.0)
            return mean.flatten(), variance.flatten()
        if mask is None:
            # tf.nn.moments
            mean = x.mean(reduce, keepdim=True)
            variance = (x - mean).square().mean(reduce, keepdim=True)
            return mean.flatten(), variance.flatten()
        # tf.nn.weighted_moments with the mask as frequency weights (divide_no_nan)
        w = mask.to(x.dtype)
        count = w.sum(reduce, keepdim=True)
        safe = torch.where(count == 0, torch.ones_like(count), count)
        mean = torch.where(count == 0, zero, (w * x).sum(reduce, keepdim=True) / safe)
        variance = torch.where(
            count == 0, zero, (w * (x - mean).square()).sum(reduce, keepdim=True) / safe
        )
        return mean.flatten(), variance.flatten()

    def _tf_fused(self, ndim: int, axis: int, dtype: torch.dtype) -> bool:
        """Whether tf-keras runs this call on its fused kernel (4-D/5-D inputs, channels on axis 1
        or last, float32/float16 weights, not synchronized)."""
        return (
            self.keras_version < 3
            and not self.synchronized
            and dtype in (torch.float32, torch.float16, torch.bfloat16)
            and ((ndim == 4 and axis in (1, 3)) or (ndim == 5 and axis in (1, 4)))
        )

    def _update_moving_fused(self, mean: Tensor, variance: Tensor) -> None:
        factor = float(np.float32(1.0 - self.momentum))  # the op's float exponential_avg_factor
        with torch.no_grad():
            for moving, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.copy_(value * factor + moving * (1.0 - factor))

    def _update_moving(self, mean: Tensor, variance: Tensor) -> None:
        # tf-keras makes ``1 - momentum`` a float32 tensor before casting it to the variable's
        # dtype, so a float64 layer decays by float32(1 - momentum).
        decay = float(np.float32(1.0 - self.momentum))
        with torch.no_grad():
            for moving, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                if self.keras_version >= 3:
                    moving.copy_(moving * self.momentum + value * (1.0 - self.momentum))
                else:
                    moving.sub_((moving - value) * decay)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        shape = loaded_shape(state_dict, prefix + "moving_mean")  # None: absent or unbuilt
        if not self.built and shape is not None:
            self.build(shape[0])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

