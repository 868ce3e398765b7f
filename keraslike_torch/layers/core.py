"""Core Keras layers: Embedding, Masking, Dense, Activation, dropout/noise, merges, reshapes.

Each class reproduces one Keras layer: its computation (number for number), its weights in
Keras's ``get_weights()`` order and shapes, and its mask propagation. Converters for every Keras
generation's config are registered in :mod:`keraslike_torch.converters` under the Keras class
names.

Layers without weights still have a dtype (from the config, followed by ``.to()``/``.double()``):
like Keras, they cast floating-point inputs to it.

Generation differences reproduced here (``keras_version`` of the config):

* merge masks: tf-keras / Keras 1-2 AND the masks that are given (``Concatenate``: AND over the
  last axis, unmasked inputs count as all-True); Keras 3 ORs them and gives no mask if any
  input has none (``Concatenate``: ANY over the last axis). Keras 3 ``Multiply``, ``Maximum`` and
  ``Minimum`` also use the masks in their forward computation.
* ``Masking`` output: Keras 1-2 multiply by the mask (``-0.0``, ``inf * 0 = nan``), Keras 3 uses
  ``where(mask, x, 0)``.
* ``Embedding``: Keras 3 wraps negative ids (``-1`` is the last row); Keras 1-2 reject them.
* ``Dropout(rate=1)`` in training: zeros in Keras 3, identity in Keras 1-2.

>>> import torch, keraslike_torch as kt
>>> dense = kt.converters.convert_layer("Dense", {"units": 3, "activation": "relu"})
>>> dense(torch.zeros(2, 5, 4)).shape
torch.Size([2, 5, 3])
>>> [tuple(w.shape) for w in dense.get_keras_weights()]
[(4, 3), (3,)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common import tracing
from ..common.config import LazyBuild, loaded_shape
from ..porting.registry import ConvertContext, UnsupportedLayerError, register
from ..porting.registry import build as _build
from ..porting.registry import common_kwargs as _common
from ..porting.registry import layer_label as _layer_label
from ..porting.registry import options as _options
from .base import KerasLayer, check_weights

__all__ = [
    "Dense",
    "Embedding",
    "Masking",
    "Activation",
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "RepeatVector",
    "Flatten",
    "Reshape",
    "Permute",
]


# ---- helpers ------------------------------------------------------------------------------------


def _positive_int(what: str, value: Any, allow_zero: bool = False) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{what} must be a {kind} integer, got {value!r}")
    return int(value)


def _rate(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{what} must be in [0, 1], got {value}")
    return float(value)


def _as_tensor(x: Any, what: str = "inputs") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.as_tensor(x)
    raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")


def _as_mask(m: Any) -> Tensor | None:
    if m is None:
        return None
    t = _as_tensor(m, "mask")
    return t if t.dtype == torch.bool else t != 0


class _ParameterFree(KerasLayer):
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
        self.register_buffer(
            "_dtype_ref",
            torch.empty(0, dtype=dtype or torch.get_default_dtype(), device=device),
            persistent=False,
        )

    @property
    def dtype(self) -> torch.dtype:
        """The layer's compute dtype (Keras casts floating-point inputs to it)."""
        return self._dtype_ref.dtype

    def _cast(self, x: Any) -> Tensor:
        t = _as_tensor(x)
        if t.is_floating_point() and t.dtype != self._dtype_ref.dtype:
            t = t.to(self._dtype_ref.dtype)
        return t


# ---- Dense ---------------------------------------------------------------------------------------


class Dense(LazyBuild, KerasLayer):
    """Keras ``Dense``: ``activation(x @ kernel + bias)`` on the last axis of any-rank input.

    The weight is stored in torch's ``(units, in)`` layout for ``F.linear``;
    :meth:`get_keras_weights`/:meth:`set_keras_weights` use Keras's ``[kernel (in, units), bias]``.
    Without ``input_size`` the input size is taken from the first call or the first weights set.

    >>> import torch, keraslike_torch as kt
    >>> from keraslike_torch.keras_layers.core import Dense
    >>> d = Dense(3, activation="tanh")
    >>> d(torch.zeros(2, 4)).shape, d.count_params()
    (torch.Size([2, 3]), 15)
    """

    keras_class = "Dense"
    supports_masking = True

    def __init__(
        self,
        units: int,
        *,
        input_size: int | None = None,
        activation: _activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: _initializers.InitializerLike = "glorot_uniform",
        bias_initializer: _initializers.InitializerLike = "zeros",
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        self.units = _positive_int("Dense units", units)
        self.use_bias = bool(use_bias)
        self.keras_version = int(keras_version)
        self.activation = _activations.get(activation, keras_version)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        factory = {"device": device, "dtype": dtype}
        self.input_size: int | None = None
        self.weight = nn.UninitializedParameter(**factory)
        if self.use_bias:
            self.bias = nn.Parameter(torch.zeros(self.units, **factory))
        else:
            self.register_parameter("bias", None)
        if input_size is not None:
            self.build(_positive_int("Dense input_size", input_size))

    def _materialize(self, input_size: int) -> None:
        with torch.no_grad():
            self.weight.materialize((self.units, int(input_size)))
        self.input_size = int(input_size)

    def reset_parameters(self) -> None:
        """Draw the weights with the Keras initializers, in Keras's shapes."""
        self._require_built()
        assert self.input_size is not None
        with torch.no_grad():
            w = self.weight
            kernel = self.kernel_initializer(
                torch.empty(self.input_size, self.units, dtype=w.dtype, device=w.device)
            )
            w.copy_(kernel.t())
            if self.bias is not None:
                self.bias.copy_(
                    self.bias_initializer(torch.empty(self.units, dtype=w.dtype, device=w.device))
                )

    def _require_built(self) -> None:
        if not self.built:
            raise RuntimeError(
                "Dense has no input size yet: pass input_size=, call the layer once, or set Keras "
                "weights (which fixes the input size)"
            )

    def extra_repr(self) -> str:
        return (
            f"units={self.units}, input_size={self.input_size}, "
            f"activation={self.activation.name}, use_bias={self.use_bias}"
        )

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = _as_tensor(inputs)
        if x.dim() < 2:
            raise ValueError(f"Dense expects an input of rank >= 2, got shape {tuple(x.shape)}")
        features = int(x.shape[-1])
        if not self.built:
            self.build(features)
        elif features != self.input_size:
            raise ValueError(
                f"Dense expects {self.input_size} input features (last axis), got {features} in "
                f"input of shape {tuple(x.shape)}"
            )
        w = self.weight
        if x.device != w.device:
            raise ValueError(f"input is on {x.device} but the layer's weights are on {w.device}")
        if x.dtype != w.dtype:  # Keras casts inputs to the layer's compute dtype
            x = x.to(w.dtype)
        return self.activation(F.linear(x, w, self.bias))

    # Keras weights

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        self._require_built()
        return self._shapes(self.input_size)  # type: ignore[arg-type]

    def _shapes(self, input_size: int) -> list[tuple[int, ...]]:
        shapes: list[tuple[int, ...]] = [(input_size, self.units)]
        if self.use_bias:
            shapes.append((self.units,))
        return shapes

    def get_keras_weights(self) -> list[np.ndarray]:
        """``[kernel (in, units), bias (units,)]`` as Keras ``get_weights()`` returns them."""
        self._require_built()
        with torch.no_grad():
            out = [self.weight.t().detach().cpu().numpy().copy()]
            if self.bias is not None:
                out.append(self.bias.detach().cpu().numpy().copy())
        return out

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set ``[kernel, bias]`` from Keras. Atomic; builds an unbuilt layer from the kernel."""
        d = self.input_size
        if d is None:
            first = weights[0] if isinstance(weights, (list, tuple)) and weights else None
            shape = tuple(getattr(first, "shape", ())) if first is not None else ()
            d = int(shape[0]) if len(shape) == 2 and shape[0] > 0 else 1
        w = self.weight
        label = f"Dense {self.name!r} (units={self.units}, use_bias={self.use_bias})"
        tensors = check_weights(label, weights, self._shapes(d), w.dtype, w.device)
        if not self.built:
            self.build(d, initialize=False)
        with torch.no_grad():
            self.weight.copy_(tensors[0].t())
            if self.bias is not None:
                self.bias.copy_(tensors[1])

    def keras_gradients(self) -> list[Tensor | None]:
        g = self.weight.grad
        out: list[Tensor | None] = [None if g is None else g.t()]
        if self.bias is not None:
            out.append(self.bias.grad)
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        shape = loaded_shape(state_dict, prefix + "weight")  # None: absent or unbuilt
        if not self.built and shape is not None and len(shape) == 2:
            self.build(shape[1], initialize=False)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


# ---- Embedding -----------------------------------------------------------------------------------


class Embedding(KerasLayer):
    """Keras ``Embedding``: rows of ``embeddings (input_dim, output_dim)`` picked by integer ids.

    Floating ids are truncated to integers as Keras casts them; the mask (``mask_zero=True``) is
    ``inputs != 0`` on the ids as given. ``dropout`` is Keras 1's option: in training whole
    vocabulary rows are dropped (and the rest scaled by ``1 / (1 - dropout)``).

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Embedding
    >>> e = Embedding(10, 4, mask_zero=True)
    >>> ids = torch.tensor([[3, 1, 0]])
    >>> e(ids).shape, e.compute_mask(ids).tolist()
    (torch.Size([1, 3, 4]), [[True, True, False]])
    """

    keras_class = "Embedding"

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        *,
        embeddings_initializer: _initializers.InitializerLike = "uniform",
        mask_zero: bool = False,
        dropout: float = 0.0,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        self.input_dim = _positive_int("Embedding input_dim", input_dim)
        self.output_dim = _positive_int("Embedding output_dim", output_dim)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.dropout = _rate("Embedding dropout", dropout)
        self.keras_version = int(keras_version)
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.embeddings = nn.Parameter(
            torch.empty(self.input_dim, self.output_dim, device=device, dtype=dtype)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.embeddings_initializer(self.embeddings.data)

    def extra_repr(self) -> str:
        extra = ", mask_zero=True" if self.mask_zero else ""
        return f"input_dim={self.input_dim}, output_dim={self.output_dim}{extra}"

    def _ids(self, inputs: Any) -> Tensor:
        ids = _as_tensor(inputs)
        if ids.is_complex():
            raise TypeError(f"Embedding expects integer ids, got {ids.dtype}")
        if ids.dtype not in (torch.int32, torch.int64):
            ids = ids.to(torch.int64)  # Keras casts to int32 (truncation toward zero)
        if not tracing.can_check_values():  # traced graph: no value checks; negative ids wrap (Keras 3)
            if self.keras_version >= 3:
                ids = torch.where(ids < 0, ids + self.input_dim, ids)
        elif ids.numel():
            lo, hi = torch.aminmax(ids)
            low = -self.input_dim if self.keras_version >= 3 else 0
            if int(lo) < low or int(hi) >= self.input_dim:
                allowed = f"[{low}, {self.input_dim})"
                raise ValueError(
                    f"Embedding {self.name!r} got ids in [{int(lo)}, {int(hi)}], outside {allowed} "
                    f"(input_dim={self.input_dim})"
                )
            if self.keras_version >= 3 and int(lo) < 0:
                ids = torch.where(ids < 0, ids + self.input_dim, ids)
        return ids.to(self.embeddings.device)

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        ids = self._ids(inputs)
        table: Tensor = self.embeddings
        if self._training(training) and 0.0 < self.dropout < 1.0:
            keep = 1.0 - self.dropout
            rows = torch.bernoulli(table.new_full((self.input_dim,), keep)) * (1.0 / keep)
            table = table * rows.unsqueeze(1)
        return F.embedding(ids, table)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """``inputs != 0`` with ``mask_zero``, else None (Keras)."""
        if not self.mask_zero:
            return None
        return _as_tensor(inputs) != 0

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return [(self.input_dim, self.output_dim)]

    def get_keras_weights(self) -> list[np.ndarray]:
        return [self.embeddings.detach().cpu().numpy().copy()]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set ``[embeddings]`` from Keras. Atomic: a ValueError leaves the layer unchanged."""
        e = self.embeddings
        (t,) = check_weights(
            f"Embedding {self.name!r}", weights, self.keras_weight_shapes(), e.dtype, e.device
        )
        with torch.no_grad():
            e.copy_(t)

    def keras_gradients(self) -> list[Tensor | None]:
        return [self.embeddings.grad]


# ---- Masking and Activation ----------------------------------------------------------------------


class Masking(_ParameterFree):
    """Keras ``Masking``: time steps whose features all equal ``mask_value`` are masked out
    (``compute_mask``) and zeroed in the output.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Masking
    >>> m = Masking(0.0)
    >>> m.compute_mask(torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])).tolist()
    [[False, True]]
    """

    keras_class = "Masking"
    supports_masking = True

    def __init__(
        self,
        mask_value: float = 0.0,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(mask_value, bool) or not isinstance(
            mask_value, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"Masking mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value}"

    def _keep(self, x: Tensor, keepdim: bool) -> Tensor:
        value = torch.as_tensor(self.mask_value, dtype=x.dtype, device=x.device)
        return (x != value).any(dim=-1, keepdim=keepdim)

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        keep = self._keep(x, True)
        if self.keras_version >= 3:
            return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
        return x * keep.to(x.dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor:
        """``any(inputs != mask_value, axis=-1)``; the incoming mask is ignored (Keras)."""
        return self._keep(self._cast(inputs), False)


class Activation(_ParameterFree):
    """Keras ``Activation`` with the Keras definition of the named function.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Activation
    >>> Activation("hard_sigmoid", keras_version=2)(torch.tensor([1.0]))
    tensor([0.7000])
    """

    keras_class = "Activation"
    supports_masking = True

    def __init__(
        self,
        activation: _activations.ActivationLike,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.activation = _activations.get(activation, keras_version)

    def extra_repr(self) -> str:
        return f"activation={self.activation.name}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        return self.activation(self._cast(inputs))


# ---- dropout and noise ---------------------------------------------------------------------------


class Dropout(_ParameterFree):
    """Keras ``Dropout``: identity at inference; in training each element (or each slice given by
    ``noise_shape``, ``None`` entries meaning the input's size) is dropped with probability
    ``rate`` and the kept ones are scaled by ``1 / (1 - rate)``.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Dropout
    >>> d = Dropout(0.5).eval()
    >>> bool((d(torch.ones(3, 4)) == 1).all())
    True
    """

    keras_class = "Dropout"
    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.rate = _rate(f"{self.keras_class} rate", rate)
        if noise_shape is not None:
            if isinstance(noise_shape, (str, bytes)) or not isinstance(noise_shape, Sequence):
                raise ValueError(
                    f"noise_shape must be a list of integers or None, got {noise_shape!r}"
                )
            noise_shape = tuple(
                None if d is None else _positive_int("noise_shape entry", d) for d in noise_shape
            )
        self.noise_shape: tuple[int | None, ...] | None = noise_shape

    def extra_repr(self) -> str:
        return f"rate={self.rate}" + (
            f", noise_shape={self.noise_shape}" if self.noise_shape else ""
        )

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(x.shape)
        if len(self.noise_shape) != x.dim():
            raise ValueError(
                f"{self.keras_class} noise_shape {self.noise_shape} does not match the rank of the "
                f"input of shape {tuple(x.shape)}"
            )
        dims = zip(self.noise_shape, x.shape, strict=True)
        shape = tuple(int(n) if d is None else d for d, n in dims)
        if any(d not in (1, int(n)) for d, n in zip(shape, x.shape, strict=True)):
            raise ValueError(
                f"{self.keras_class} noise_shape {self.noise_shape} does not broadcast to the "
                f"input of shape {tuple(x.shape)}"
            )
        return shape

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if not self._training(training) or self.rate == 0.0:
            return x
        shape = self._mask_shape(x)
        if self.rate >= 1.0:  # Keras 3 returns zeros; Keras 1/2 only drop for 0 < rate < 1
            return torch.zeros_like(x) if self.keras_version >= 3 else x
        keep = torch.rand(shape, dtype=x.dtype, device=x.device) >= self.rate
        return x * (1.0 / (1.0 - self.rate)) * keep.to(x.dtype)


class SpatialDropout1D(Dropout):
    """Keras ``SpatialDropout1D``: dropout of whole channels of (batch, time, channels) input,
    one mask per sample (noise shape ``(batch, 1, channels)``).

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import SpatialDropout1D
    >>> y = SpatialDropout1D(0.5)(torch.ones(2, 6, 3), training=True)
    >>> bool((y == y[:, :1]).all())
    True
    """

    keras_class = "SpatialDropout1D"

    def __init__(
        self,
        rate: float,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            rate, None, keras_version=keras_version, name=name, device=device, dtype=dtype
        )

    def _mask_shape(self, x: Tensor) -> tuple[int, ...]:
        if x.dim() != 3:
            raise ValueError(
                "SpatialDropout1D expects a 3-D input (batch, time, channels), got shape "
                f"{tuple(x.shape)}"
            )
        return (int(x.shape[0]), 1, int(x.shape[2]))


class GaussianNoise(_ParameterFree):
    """Keras ``GaussianNoise``: adds N(0, stddev) noise in training, identity at inference.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import GaussianNoise
    >>> GaussianNoise(0.1).eval()(torch.ones(2)).tolist()
    [1.0, 1.0]
    """

    keras_class = "GaussianNoise"
    supports_masking = True

    def __init__(
        self,
        stddev: float,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if (
            isinstance(stddev, bool)
            or not isinstance(stddev, (int, float, np.integer, np.floating))
            or stddev < 0
        ):
            raise ValueError(f"GaussianNoise stddev must be a non-negative number, got {stddev!r}")
        self.stddev = float(stddev)

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if not self._training(training) or self.stddev == 0.0:
            return x
        return x + torch.randn_like(x) * self.stddev


class GaussianDropout(_ParameterFree):
    """Keras ``GaussianDropout``: multiplies by N(1, sqrt(rate / (1 - rate))) noise in training
    (for 0 < rate < 1), identity otherwise.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import GaussianDropout
    >>> GaussianDropout(0.2).eval()(torch.ones(2)).tolist()
    [1.0, 1.0]
    """

    keras_class = "GaussianDropout"
    supports_masking = True

    def __init__(
        self,
        rate: float,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.rate = _rate("GaussianDropout rate", rate)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if not self._training(training) or not 0.0 < self.rate < 1.0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (torch.randn_like(x) * stddev + 1.0)


# ---- merges --------------------------------------------------------------------------------------


class _Merge(_ParameterFree):
    """Elementwise merge of a list of tensors (numpy broadcasting; inputs of lower rank get
    axes inserted at position 1 first, as Keras does).

    Call with a list, ``layer([a, b], mask=[ma, None])``, or with the tensors as positional
    arguments, ``layer(a, b)``.
    """

    supports_masking = True
    _exactly: int | None = None

    def _split(
        self, inputs: Any, more: tuple[Any, ...], mask: Any, training: bool | None
    ) -> tuple[list[Tensor], list[Tensor | None] | None, bool | None]:
        if isinstance(inputs, (list, tuple)):
            if len(more) > 2:
                raise TypeError(
                    f"{self.keras_class} takes (inputs, mask=None, training=None); got "
                    f"{len(more) + 1} positional arguments"
                )
            if more:
                if mask is not None:
                    raise TypeError(f"{self.keras_class} got the mask twice")
                mask = more[0]
            if len(more) > 1:
                training = more[1]
            xs = list(inputs)
        else:
            xs = [inputs, *more]
        if not xs:
            raise ValueError(f"{self.keras_class} must be called on a list of at least 1 tensor")
        if self._exactly is not None and len(xs) != self._exactly:
            raise ValueError(
                f"A {self.keras_class} layer should be called on exactly {self._exactly} inputs, "
                f"got {len(xs)}"
            )
        tensors = [self._cast(x) for x in xs]
        masks = self._check_masks(tensors, mask)
        batches = {int(t.shape[0]) for t in tensors if t.dim() > 0}
        if len(batches) > 1:
            raise ValueError(
                f"{self.keras_class} cannot merge tensors with different batch sizes: "
                f"{self._shapes(tensors)}"
            )
        return tensors, masks, training

    def _check_masks(self, inputs: Sequence[Any], mask: Any) -> list[Tensor | None] | None:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ValueError(
                f"{self.keras_class} mask should be a list (one entry per input), got "
                f"{type(mask).__name__}"
            )
        if len(mask) != len(inputs):
            raise ValueError(f"{self.keras_class} got {len(inputs)} inputs but {len(mask)} masks")
        return [_as_mask(m) for m in mask]

    @staticmethod
    def _shapes(xs: Sequence[Tensor]) -> list[tuple[int, ...]]:
        return [tuple(x.shape) for x in xs]

    def forward(
        self, inputs: Any, *more: Any, mask: Any = None, training: bool | None = None
    ) -> Tensor:
        xs, masks, _ = self._split(inputs, more, mask, training)
        ndims = [x.dim() for x in xs]
        max_ndim = max(ndims)
        if masks is not None and self.keras_version >= 3:
            # Keras 3 reads the masks attached to the tensors; an input that got axes inserted
            # (lower rank) is a new tensor without its mask.
            masks = [m if x.dim() == max_ndim else None for x, m in zip(xs, masks, strict=True)]
        else:
            masks = None
        xs = [
            x.reshape(x.shape[:1] + (1,) * (max_ndim - x.dim()) + x.shape[1:])
            if x.dim() < max_ndim
            else x
            for x in xs
        ]
        try:
            return self._merge(xs, masks)
        except RuntimeError as e:
            raise ValueError(
                f"{self.keras_class}: inputs of shapes {self._shapes(xs)} do not broadcast ({e})"
            ) from None

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """tf-keras (Keras 1/2): the AND of the masks given (None if none is). Keras 3: the OR of
        the masks, None if any input has none."""
        if mask is None:
            return None
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        masks = self._check_masks(xs, mask)
        assert masks is not None
        try:
            if self.keras_version >= 3:
                if any(m is None for m in masks):
                    return None
                out = masks[0]
                for m in masks[1:]:
                    out = out | m  # type: ignore[operator]
                return out
            given = [m for m in masks if m is not None]
            if not given:
                return None
            return torch.stack(given).all(dim=0)
        except RuntimeError as e:
            raise ValueError(
                f"{self.keras_class}: masks of shapes {_mask_shapes(masks)} "
                f"cannot be combined ({e})"
            ) from None


def _mask_shapes(masks: Sequence[Tensor | None]) -> list[tuple[int, ...] | None]:
    return [None if m is None else tuple(m.shape) for m in masks]


def _broadcast_masks(xs: list[Tensor], masks: list[Tensor | None]) -> list[Tensor | None]:
    return [
        None if m is None else torch.broadcast_to(m.unsqueeze(-1), x.shape)
        for x, m in zip(xs, masks, strict=True)
    ]


class Add(_Merge):
    """Keras ``Add``: the sum of the inputs.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Add
    >>> Add()([torch.ones(1, 2), torch.ones(1, 2)]).tolist()
    [[2.0, 2.0]]
    """

    keras_class = "Add"

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """Keras ``Subtract``: ``inputs[0] - inputs[1]`` (exactly two inputs).

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Subtract
    >>> Subtract()(torch.ones(1, 2), torch.ones(1, 2)).tolist()
    [[0.0, 0.0]]
    """

    keras_class = "Subtract"
    _exactly = 2

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        return xs[0] - xs[1]


class Average(_Merge):
    """Keras ``Average``: the sum of the inputs divided by their number.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Average
    >>> Average()([torch.zeros(1, 2), torch.ones(1, 2)]).tolist()
    [[0.5, 0.5]]
    """

    keras_class = "Average"

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs)


class Multiply(_Merge):
    """Keras ``Multiply``: the elementwise product. With Keras 3 and masks, masked entries count
    as 1, and the output is zeroed where no input is valid when every input has a mask.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Multiply
    >>> Multiply()([torch.full((1, 2), 2.0), torch.full((1, 2), 3.0)]).tolist()
    [[6.0, 6.0]]
    """

    keras_class = "Multiply"

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        if masks is None:
            out = xs[0]
            for x in xs[1:]:
                out = out * x
            return out
        bmasks = _broadcast_masks(xs, masks)
        has_output_mask = all(m is not None for m in bmasks)
        product: Tensor | None = None
        out_mask: Tensor | None = None
        for x, m in zip(xs, bmasks, strict=True):
            if m is not None:
                x = torch.where(m, x, torch.ones((), dtype=x.dtype, device=x.device))
                if has_output_mask:
                    out_mask = m if out_mask is None else out_mask | m
            product = x if product is None else product * x
        assert product is not None
        if has_output_mask and out_mask is not None:
            product = torch.where(out_mask, product, torch.zeros((), dtype=product.dtype, device=product.device))
        return product


class _MinMax(_Merge):
    _op: Any = None

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        op = type(self)._op
        if masks is None:
            out = xs[0]
            for x in xs[1:]:
                out = op(out, x)
            return out
        # Keras 3's _apply_merge_op_and_or_mask, step by step
        result: Tensor | None = None
        out_mask = None
        for x, m in zip(xs, _broadcast_masks(xs, masks), strict=True):
            if result is None:
                result, out_mask = x, m
                continue
            if m is not None:
                x = torch.where(m, x, result)
            if out_mask is not None:
                result = torch.where(out_mask, result, x)
            out_mask = out_mask | m if (m is not None and out_mask is not None) else None
            result = op(result, x)
        assert result is not None
        return result


class Maximum(_MinMax):
    """Keras ``Maximum``: the elementwise maximum (NaN propagates, as in TensorFlow).

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Maximum
    >>> Maximum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]).tolist()
    [[3.0, 5.0]]
    """

    keras_class = "Maximum"
    _op = torch.maximum


class Minimum(_MinMax):
    """Keras ``Minimum``: the elementwise minimum.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Minimum
    >>> Minimum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]).tolist()
    [[1.0, 2.0]]
    """

    keras_class = "Minimum"
    _op = torch.minimum


class Concatenate(_Merge):
    """Keras ``Concatenate`` along ``axis`` (counted with the batch axis, negative allowed).

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Concatenate
    >>> Concatenate(axis=1)([torch.zeros(2, 3, 4), torch.zeros(2, 1, 4)]).shape
    torch.Size([2, 4, 4])
    """

    keras_class = "Concatenate"

    def __init__(
        self,
        axis: int = -1,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def forward(
        self, inputs: Any, *more: Any, mask: Any = None, training: bool | None = None
    ) -> Tensor:
        xs, _, _ = self._split(inputs, more, mask, training)
        try:
            return torch.cat(xs, dim=self.axis)
        except (RuntimeError, IndexError) as e:
            raise ValueError(
                f"Concatenate(axis={self.axis}) needs inputs of equal shapes except on the "
                f"concatenation axis; got {self._shapes(xs)} ({e})"
            ) from None

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """As Keras: each mask is given the input's rank (unmasked inputs: all True), the masks
        are concatenated on ``axis`` and reduced over the last axis: ALL in tf-keras (Keras 1/2),
        ANY in Keras 3."""
        if mask is None:
            return None
        xs = [_as_tensor(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
        masks = self._check_masks(xs, mask)
        assert masks is not None
        if all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(xs, masks, strict=True):
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            elif m.dim() < x.dim():
                m = m.unsqueeze(-1)
                full.append(torch.broadcast_to(m, x.shape) if self.keras_version >= 3 else m)
            else:
                full.append(m)
        try:
            cat = torch.cat(full, dim=self.axis)
        except (RuntimeError, IndexError) as e:
            raise ValueError(
                f"Concatenate(axis={self.axis}): masks {_mask_shapes(masks)} "
                f"of inputs {self._shapes(xs)} cannot be concatenated as Keras does ({e})"
            ) from None
        return cat.any(dim=-1) if self.keras_version >= 3 else cat.all(dim=-1)


# ---- reshaping -----------------------------------------------------------------------------------


class RepeatVector(_ParameterFree):
    """Keras ``RepeatVector``: (batch, features) -> (batch, n, features).

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import RepeatVector
    >>> RepeatVector(3)(torch.zeros(2, 4)).shape
    torch.Size([2, 3, 4])
    """

    keras_class = "RepeatVector"

    def __init__(
        self,
        n: int,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        self.n = _positive_int("RepeatVector n", n, allow_zero=True)

    def extra_repr(self) -> str:
        return f"n={self.n}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() != 2:
            raise ValueError(
                f"RepeatVector expects a 2-D input (batch, features), got shape {tuple(x.shape)}"
            )
        return x.unsqueeze(1).repeat(1, self.n, 1)


class Flatten(_ParameterFree):
    """Keras ``Flatten``: (batch, ...) -> (batch, prod(...)); with ``channels_first`` the channel
    axis is moved last first, as Keras does.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Flatten
    >>> Flatten()(torch.zeros(2, 3, 4)).shape, Flatten()(torch.zeros(2)).shape
    (torch.Size([2, 12]), torch.Size([2, 1]))
    """

    keras_class = "Flatten"

    def __init__(
        self,
        data_format: str | None = "channels_last",
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "Flatten data_format must be 'channels_last' or 'channels_first', got "
                f"{data_format!r}"
            )
        self.data_format = data_format

    def extra_repr(self) -> str:
        return "data_format='channels_first'" if self.data_format == "channels_first" else ""

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() < 1:
            raise ValueError("Flatten expects an input with a batch axis")
        if self.data_format == "channels_first" and x.dim() > 2:
            x = x.permute(0, *range(2, x.dim()), 1)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))


class Reshape(_ParameterFree):
    """Keras ``Reshape`` to ``(batch, *target_shape)``; one entry may be -1.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Reshape
    >>> Reshape((2, -1))(torch.zeros(5, 6)).shape
    torch.Size([5, 2, 3])
    """

    keras_class = "Reshape"

    def __init__(
        self,
        target_shape: Sequence[int],
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(target_shape, (str, bytes)) or not isinstance(target_shape, Sequence):
            raise ValueError(
                f"Reshape target_shape must be a list of integers, got {target_shape!r}"
            )
        shape = []
        for d in target_shape:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or (d < 0 and d != -1):
                raise ValueError(
                    "Reshape target_shape entries must be non-negative integers or -1, got "
                    f"{target_shape!r}"
                )
            shape.append(int(d))
        if shape.count(-1) > 1:
            raise ValueError(f"Reshape target_shape may contain at most one -1, got {tuple(shape)}")
        self.target_shape = tuple(shape)

    def extra_repr(self) -> str:
        return f"target_shape={self.target_shape}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() < 1:
            raise ValueError("Reshape expects an input with a batch axis")
        size = math.prod(x.shape[1:])
        shape = list(self.target_shape)
        known = math.prod(d for d in shape if d != -1)
        if -1 in shape:
            if known == 0 or size % known:
                raise ValueError(
                    f"Reshape cannot reshape input of shape {tuple(x.shape)} to "
                    f"(batch, *{self.target_shape})"
                )
            shape[shape.index(-1)] = size // known
        elif known != size:
            raise ValueError(
                f"Reshape cannot reshape input of shape {tuple(x.shape)} to "
                f"(batch, *{self.target_shape})"
            )
        return x.reshape(x.shape[0], *shape)


class Permute(_ParameterFree):
    """Keras ``Permute``: permutes the non-batch axes; ``dims`` are 1-based as in Keras.

    >>> import torch
    >>> from keraslike_torch.keras_layers.core import Permute
    >>> Permute((2, 1))(torch.zeros(4, 3, 5)).shape
    torch.Size([4, 5, 3])
    """

    keras_class = "Permute"

    def __init__(
        self,
        dims: Sequence[int],
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(dims, (str, bytes)) or not isinstance(dims, Sequence):
            raise ValueError(f"Permute dims must be a list of integers, got {dims!r}")
        try:
            ok = sorted(int(d) for d in dims) == list(range(1, len(dims) + 1))
        except (TypeError, ValueError):
            ok = False
        if not ok or any(isinstance(d, bool) for d in dims):
            raise ValueError(
                f"Permute dims must be a permutation of 1..{len(dims)} (1-based, batch axis "
                f"excluded), got {tuple(dims)!r}"
            )
        self.dims = tuple(int(d) for d in dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"

    def forward(self, inputs: Tensor, mask: Any = None, training: bool | None = None) -> Tensor:
        x = self._cast(inputs)
        if x.dim() != len(self.dims) + 1:
            raise ValueError(
                f"Permute{self.dims} expects a {len(self.dims) + 1}-D input, got shape "
                f"{tuple(x.shape)}"
            )
        return x.permute(0, *self.dims)


# ---- converters ----------------------------------------------------------------------------------

def _no_keras3_extras(kind: str, config: dict) -> None:
    """Keras 3 quantization and LoRA change the weights list and the computation."""
    if config.get("quantization_config") is not None:
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: unsupported option quantization_config"
        )
    if config.get("lora_rank"):
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: unsupported option lora_rank={config['lora_rank']!r}"
        )


_K3_EXTRAS = frozenset({"quantization_config", "lora_rank", "lora_alpha"})


@register("Dense")
def _dense(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "Dense"
    _no_keras3_extras(kind, config)
    o = _options(
        kind,
        config,
        {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "input_size"},
        {
            "output_dim": "units",
            "init": "kernel_initializer",
            "bias": "use_bias",
            "input_dim": "input_size",
        },
        _K3_EXTRAS,
    )
    if "units" not in o:
        raise UnsupportedLayerError(f"{_layer_label(kind, config)} has no 'units'")
    units = o.pop("units")
    return _build(kind, config, Dense, units, **o, **_common(config, ctx))


@register("Embedding")
def _embedding(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "Embedding"
    _no_keras3_extras(kind, config)
    # tf-keras sparse=True returns the same values as a SparseTensor: ignored.
    o = _options(
        kind,
        config,
        {"input_dim", "output_dim", "embeddings_initializer", "mask_zero", "dropout"},
        {"init": "embeddings_initializer"},
        _K3_EXTRAS | {"sparse"},
    )
    if "input_dim" not in o or "output_dim" not in o:
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)} needs 'input_dim' and 'output_dim'"
        )
    return _build(
        kind,
        config,
        Embedding,
        o.pop("input_dim"),
        o.pop("output_dim"),
        **o,
        **_common(config, ctx),
    )


@register("Masking")
def _masking(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Masking", config, {"mask_value"})
    return _build("Masking", config, Masking, **o, **_common(config, ctx))


@register("Activation")
def _activation(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Activation", config, {"activation"})
    if "activation" not in o:
        raise UnsupportedLayerError(f"{_layer_label('Activation', config)} has no 'activation'")
    return _build("Activation", config, Activation, o["activation"], **_common(config, ctx))


@register("Dropout")
def _dropout(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Dropout", config, {"rate", "noise_shape"}, {"p": "rate"})
    if "rate" not in o:
        raise UnsupportedLayerError(f"{_layer_label('Dropout', config)} has no 'rate'")
    return _build(
        "Dropout", config, Dropout, o["rate"], o.get("noise_shape"), **_common(config, ctx)
    )


@register("SpatialDropout1D")
def _spatial_dropout1d(config: dict, ctx: ConvertContext) -> KerasLayer:
    # tf-keras records noise_shape (inherited from Dropout) but SpatialDropout1D overrides it.
    o = _options("SpatialDropout1D", config, {"rate"}, {"p": "rate"}, {"noise_shape"})
    if "rate" not in o:
        raise UnsupportedLayerError(f"{_layer_label('SpatialDropout1D', config)} has no 'rate'")
    return _build("SpatialDropout1D", config, SpatialDropout1D, o["rate"], **_common(config, ctx))


@register("GaussianNoise")
def _gaussian_noise(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("GaussianNoise", config, {"stddev"}, {"sigma": "stddev"})
    if "stddev" not in o:
        raise UnsupportedLayerError(f"{_layer_label('GaussianNoise', config)} has no 'stddev'")
    return _build("GaussianNoise", config, GaussianNoise, o["stddev"], **_common(config, ctx))


@register("GaussianDropout")
def _gaussian_dropout(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("GaussianDropout", config, {"rate"}, {"p": "rate"})
    if "rate" not in o:
        raise UnsupportedLayerError(f"{_layer_label('GaussianDropout', config)} has no 'rate'")
    return _build("GaussianDropout", config, GaussianDropout, o["rate"], **_common(config, ctx))


@register("Concatenate")
def _concatenate(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Concatenate", config, {"axis"})
    return _build("Concatenate", config, Concatenate, **o, **_common(config, ctx))


_MERGES: dict[str, type[_Merge]] = {
    "Add": Add,
    "Subtract": Subtract,
    "Multiply": Multiply,
    "Average": Average,
    "Maximum": Maximum,
    "Minimum": Minimum,
}


def _merge_converter(kind: str) -> Any:
    cls = _MERGES[kind]

    def convert(config: dict, ctx: ConvertContext) -> KerasLayer:
        _options(kind, config, set())
        return _build(kind, config, cls, **_common(config, ctx))

    convert.__name__ = f"_{kind.lower()}"
    return convert


for _kind in _MERGES:
    register(_kind)(_merge_converter(_kind))


# Keras 1 ``Merge``: the modes that are one of today's merge layers.
_MERGE_MODES: dict[str, type[_Merge]] = {
    "sum": Add,
    "mul": Multiply,
    "ave": Average,
    "max": Maximum,
}


@register("Merge")
def _keras1_merge(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "Merge"
    o = _options(
        kind,
        config,
        {
            "mode",
            "concat_axis",
            "dot_axes",
            "mode_type",
            "output_shape",
            "output_shape_type",
            "output_mask",
            "output_mask_type",
            "arguments",
            "layers",
        },
    )
    mode = o.get("mode", "sum")
    if o.get("layers"):
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: a Sequential Merge of branch models is not supported"
        )
    if o.get("mode_type", "raw") != "raw" or not isinstance(mode, str):
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: unsupported option mode={mode!r} (a function)"
        )
    if o.get("output_mask") is not None:
        raise UnsupportedLayerError(f"{_layer_label(kind, config)}: unsupported option output_mask")
    common = {**_common(config, ctx), "keras_version": min(ctx.keras_version, 2)}
    if mode == "concat":
        return _build(kind, config, Concatenate, o.get("concat_axis", -1), **common)
    if mode not in _MERGE_MODES:
        raise UnsupportedLayerError(
            f"{_layer_label(kind, config)}: unsupported option mode={mode!r} "
            f"(supported: {', '.join(sorted([*_MERGE_MODES, 'concat']))})"
        )
    return _build(kind, config, _MERGE_MODES[mode], **common)


@register("RepeatVector")
def _repeat_vector(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("RepeatVector", config, {"n"})
    if "n" not in o:
        raise UnsupportedLayerError(f"{_layer_label('RepeatVector', config)} has no 'n'")
    return _build("RepeatVector", config, RepeatVector, o["n"], **_common(config, ctx))


@register("Flatten")
def _flatten(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Flatten", config, {"data_format"})
    return _build("Flatten", config, Flatten, o.get("data_format"), **_common(config, ctx))


@register("Reshape")
def _reshape(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Reshape", config, {"target_shape"})
    if "target_shape" not in o:
        raise UnsupportedLayerError(f"{_layer_label('Reshape', config)} has no 'target_shape'")
    return _build("Reshape", config, Reshape, o["target_shape"], **_common(config, ctx))


@register("Permute")
def _permute(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Permute", config, {"dims"})
    if "dims" not in o:
        raise UnsupportedLayerError(f"{_layer_label('Permute', config)} has no 'dims'")
    return _build("Permute", config, Permute, o["dims"], **_common(config, ctx))
