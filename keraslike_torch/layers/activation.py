"""Keras activation layers: Softmax, ReLU, LeakyReLU, PReLU, ELU (``keras/src/layers/activations``).

Each reproduces its Keras layer number for number, in both generations (``keras_version``):

* ``Softmax`` with a mask: Keras 3 puts ``-1e9`` (``-3e4`` in float16) at masked positions with
  ``where`` and zeroes their outputs afterwards; tf-keras ADDS ``(1 - mask) * -1e9``
  (``float16.min / 2``) and does not zero anything (a fully masked row is then uniform).
* Slopes: TensorFlow's ``LeakyRelu`` kernel takes its slope as a float32 attribute (0.3 is
  0.30000001192 even in float64), and tf-keras casts ReLU/ELU constants to float32 (``floatx``).

Their converters are in :mod:`keraslike_torch.porting.converters.activation`.

>>> import torch
>>> from keraslike_torch.layers import Softmax, ReLU
>>> Softmax()(torch.zeros(1, 2), mask=torch.tensor([[True, False]])).tolist()
[[1.0, 0.0]]
>>> ReLU(max_value=1.0)(torch.tensor([-1.0, 0.5, 3.0])).tolist()
[0.0, 0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common.config import LazyBuild, loaded_shape
from ._checks import ParameterFree, as_tensor, cast_like, numpy
from .base import KerasLayer, check_weights

_ELU = _activations.get("elu")

__all__ = ["Softmax", "ReLU", "LeakyReLU", "PReLU", "ELU", "large_negative", "masked_softmax"]


def _number(what: str, value: Any, allow_none: bool = False, minimum: float | None = 0.0) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:  # tf-keras configs hold float32 scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if minimum is not None and float(value) < minimum:
        raise ValueError(f"{what} cannot be negative, got {value!r}")
    return float(value)


def _f32(value: float) -> float:
    """``value`` rounded to float32, as TensorFlow's float attributes and tf-keras's floatx casts."""
    return float(np.float32(value))


def large_negative(dtype: torch.dtype, keras_version: int) -> float:
    """The number Keras puts at masked softmax positions: Keras 3 ``-1e9`` (float16 ``-3e4``),
    tf-keras ``-1e9`` (float16 ``float16.min / 2``)."""
    if dtype == torch.float16:
        return -3e4 if keras_version >= 3 else float(np.finfo(np.float16).min) / 2
    return -1e9


def masked_softmax(
    x: Tensor, mask: Tensor | None, axis: int | tuple[int, ...], keras_version: int, robust: bool = False
) -> Tensor:
    """Keras ``Softmax(axis)(x, mask)`` (``mask`` bool, broadcastable to ``x``), per generation:
    Keras 3 ``where(mask, x, -1e9)`` and zeros at masked outputs; tf-keras ``x + (1 - mask) * -1e9``
    (``robust``, tf-keras's ``robust_masking``: ``where``, outputs not zeroed)."""
    neg = large_negative(x.dtype, keras_version)
    if mask is not None:
        if keras_version >= 3 or robust:
            x = torch.where(mask, x, torch.full((), neg, dtype=x.dtype, device=x.device))
        else:
            x = x + (1.0 - mask.to(x.dtype)) * neg
    if isinstance(axis, tuple) and len(axis) > 1:
        out = torch.exp(x - torch.logsumexp(x, dim=axis, keepdim=True))
    else:
        out = torch.softmax(x, dim=axis[0] if isinstance(axis, tuple) else axis)
    if mask is not None and keras_version >= 3:
        out = torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return out


class Softmax(ParameterFree):
    """Keras ``Softmax(axis=-1)``; ``axis`` may be a list (softmax over several axes). The call's
    ``mask`` (bool, or numbers: kept where > 0.5) must broadcast to the input from the right.

    >>> import torch
    >>> from keraslike_torch.layers import Softmax
    >>> Softmax(keras_version=2)(torch.zeros(1, 2), mask=torch.tensor([[False, False]])).tolist()
    [[0.5, 0.5]]
    """

    keras_class = "Softmax"
    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        *,
        robust_masking: bool = False,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(axis, (list, tuple)):
            if not axis or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
                raise ValueError(f"Softmax axis must be an integer or a list of integers, got {axis!r}")
            self.axis: int | tuple[int, ...] = tuple(int(a) for a in axis)
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise ValueError(f"Softmax axis must be an integer or a list of integers, got {axis!r}")
        self.robust_masking = bool(robust_masking)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        m = None
        if mask is not None:
            m = mask if isinstance(mask, Tensor) else torch.as_tensor(np.asarray(mask))
            if m.dim() > x.dim() or any(a != 1 and a != b for a, b in zip(m.shape[::-1], x.shape[::-1])):
                raise ValueError(
                    f"Softmax: the mask must broadcast to the inputs (each mask dimension 1 or "
                    f"equal to the input's, from the right); got mask {tuple(m.shape)} for inputs "
                    f"{tuple(x.shape)}"
                )
            m = (m > 0.5) if m.dtype != torch.bool else m
            m = m.to(x.device)
        return masked_softmax(x, m, self.axis, self.keras_version, self.robust_masking)


class ReLU(ParameterFree):
    """Keras ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)``:
    ``x`` above ``threshold`` (capped at ``max_value``), ``negative_slope * (x - threshold)`` below.

    >>> import torch
    >>> from keraslike_torch.layers import ReLU
    >>> ReLU(negative_slope=0.5, threshold=1.0)(torch.tensor([0.0, 2.0])).tolist()
    [-0.5, 2.0]
    """

    keras_class = "ReLU"
    supports_masking = True

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.max_value = _number("ReLU max_value", max_value, allow_none=True)
        self.negative_slope = _number("ReLU negative_slope", negative_slope)
        self.threshold = _number("ReLU threshold", threshold)

    def extra_repr(self) -> str:
        return f"max_value={self.max_value}, negative_slope={self.negative_slope}, threshold={self.threshold}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        slope, threshold, max_value = self.negative_slope, self.threshold, self.max_value
        assert slope is not None and threshold is not None
        if self.keras_version < 3:  # tf-keras casts the constants to floatx (float32)
            slope, threshold = _f32(slope), _f32(threshold)
            max_value = None if max_value is None else _f32(max_value)
        if slope != 0.0:
            if max_value is None and threshold == 0:
                return F.leaky_relu(x, _f32(slope))  # TF's LeakyRelu: a float32 slope attribute
            negative_part = F.relu(-x + threshold) if threshold != 0 else F.relu(-x)
        if threshold != 0:
            above = x > threshold
            if self.keras_version >= 3:
                y = torch.where(above, x, torch.zeros((), dtype=x.dtype, device=x.device))
            else:
                y = x * above.to(x.dtype)
        else:
            y = F.relu(x)
        if max_value is not None:
            y = torch.clamp(y, 0.0, max_value)
        if slope != 0.0:
            y = y - slope * negative_part
        return y


class LeakyReLU(ParameterFree):
    """Keras ``LeakyReLU``: ``x`` for ``x > 0``, else ``negative_slope * x`` (tf-keras calls the
    slope ``alpha``; both default to 0.3). TensorFlow rounds the slope to float32.

    >>> import torch
    >>> from keraslike_torch.layers import LeakyReLU
    >>> LeakyReLU(0.5)(torch.tensor([-2.0, 2.0])).tolist()
    [-1.0, 2.0]
    """

    keras_class = "LeakyReLU"
    supports_masking = True

    def __init__(
        self,
        negative_slope: float = 0.3,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        minimum = 0.0 if keras_version >= 3 else None  # tf-keras accepts a negative alpha
        self.negative_slope = _number("LeakyReLU negative_slope", negative_slope, minimum=minimum)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        assert self.negative_slope is not None
        return F.leaky_relu(self._cast(inputs), _f32(self.negative_slope))


class ELU(ParameterFree):
    """Keras ``ELU(alpha=1.0)``: ``x`` for ``x > 0``, else ``alpha * expm1(x)`` (TensorFlow's
    formula; tf-keras rounds ``alpha`` to float32).

    >>> import torch
    >>> from keraslike_torch.layers import ELU
    >>> ELU(2.0)(torch.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """

    keras_class = "ELU"
    supports_masking = True

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.alpha = _number("ELU alpha", alpha, minimum=None)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        res = _ELU(x)  # TensorFlow's expm1 formula
        assert self.alpha is not None
        alpha = self.alpha if self.keras_version >= 3 else _f32(self.alpha)
        if alpha == 1:
            return res
        return torch.where(x > 0, res, alpha * res)


class PReLU(LazyBuild, KerasLayer):
    """Keras ``PReLU``: ``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` of the input's
    shape without the batch axis (size 1 on ``shared_axes``, counted with the batch axis).
    Sized at the first call or from the weights.

    >>> import torch
    >>> from keraslike_torch.layers import PReLU
    >>> p = PReLU(shared_axes=[1])
    >>> p(torch.zeros(2, 5, 3)).shape, [w.shape for w in p.get_keras_weights()]
    (torch.Size([2, 5, 3]), [(1, 3)])
    """

    keras_class = "PReLU"
    supports_masking = True
    size_attr = "input_shape"
    size_what = "input shape (without the batch axis)"

    def __init__(
        self,
        alpha_initializer: _initializers.InitializerLike = "zeros",
        shared_axes: int | Sequence[int] | None = None,
        *,
        input_shape: Sequence[int] | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        self.keras_version = int(keras_version)
        self.alpha_initializer = _initializers.get(alpha_initializer)
        axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else shared_axes
        if axes is not None and not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1 for a in axes
        ):
            raise ValueError(f"PReLU shared_axes must be positive integers (axes after the batch), got {shared_axes!r}")
        self.shared_axes: tuple[int, ...] | None = None if axes is None else tuple(int(a) for a in axes)
        self.input_shape: tuple[int, ...] | None = None
        self.alpha = nn.UninitializedParameter(device=device, dtype=dtype)  # type: ignore[call-arg]
        if input_shape is not None:
            self.build(tuple(input_shape))

    def _param_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = list(input_shape)
        for a in self.shared_axes or ():
            if a - 1 >= len(shape):
                raise ValueError(f"PReLU shared_axes {self.shared_axes} do not fit an input of rank {len(shape) + 1}")
            shape[a - 1] = 1
        return tuple(shape)

    def _materialize(self, input_shape: tuple[int, ...]) -> None:
        shape = self._param_shape(tuple(input_shape))
        with torch.no_grad():
            self.alpha.materialize(shape)
        self.input_shape = tuple(input_shape)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.copy_(self.alpha_initializer(torch.empty_like(self.alpha)))

    def built_config(self) -> dict[str, Any]:
        return {"input_shape": self.input_shape, "dtype": self.alpha.dtype}

    def extra_repr(self) -> str:
        return f"shared_axes={self.shared_axes}, input_shape={self.input_shape}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = as_tensor(inputs)
        if x.dim() < 2:
            raise ValueError(f"PReLU expects an input of rank >= 2, got shape {tuple(x.shape)}")
        shape = tuple(int(d) for d in x.shape[1:])
        if not self.built:
            self.build(shape)
        elif self._param_shape(shape) != tuple(self.alpha.shape) or len(shape) != len(self.input_shape or ()):
            raise ValueError(f"PReLU was built for inputs of shape (batch, *{self.input_shape}), got {tuple(x.shape)}")
        x = cast_like(self, x, self.alpha)
        return F.relu(x) + (-self.alpha) * F.relu(-x)

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        if not self.built:
            raise RuntimeError("PReLU is not built yet: its alpha shape depends on the input shape")
        return [tuple(self.alpha.shape)]

    def keras_weight_trainable(self) -> list[bool]:
        return [True]

    def get_keras_weights(self) -> list[np.ndarray]:
        return [numpy(self.alpha)] if self.built else []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set ``[alpha]`` from Keras. Atomic; an unbuilt layer is sized from alpha's shape
        (a shared axis of size 1 stays 1)."""
        shape = self.input_shape
        if shape is None:
            try:
                shape = tuple(int(d) for d in np.shape(weights[0]))
            except Exception:
                shape = (1,)
        a = self.alpha
        (t,) = check_weights(f"PReLU {self.name!r}", weights, [self._param_shape(shape)], a.dtype, a.device)
        if not self.built:
            self.build(shape, initialize=False)
        with torch.no_grad():
            self.alpha.copy_(t)

    def keras_gradients(self) -> list[Tensor | None]:
        return [self.alpha.grad]

    def keras_param_counts(self) -> tuple[int, int]:
        return (int(self.alpha.numel()), 0) if self.built else (0, 0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        shape = loaded_shape(state_dict, prefix + "alpha")
        if not self.built and shape is not None:
            self.build(shape, initialize=False)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

