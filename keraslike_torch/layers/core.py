"""Core Keras layers: Dense, Embedding, Masking, Activation.

Each class reproduces one Keras layer: its computation (number for number), its weights in
Keras's ``get_weights()`` order and shapes, and its mask propagation. Their converters (configs
of every Keras generation) are in :mod:`keraslike_torch.converters`.

Layers without weights still have a dtype (from the config, followed by ``.to()``/``.double()``):
like Keras, they cast floating-point inputs to it.

Generation differences reproduced here (``keras_version`` of the config):

* ``Masking`` output: Keras 1-2 multiply by the mask (``-0.0``, ``inf * 0 = nan``), Keras 3 uses
  ``where(mask, x, 0)``.
* ``Embedding``: Keras 3 wraps negative ids (``-1`` is the last row); Keras 1-2 reject them.

>>> import torch, keraslike_torch as kt
>>> dense = kt.converters.convert_layer("Dense", {"units": 3, "activation": "relu"})
>>> dense(torch.zeros(2, 5, 4)).shape
torch.Size([2, 5, 3])
>>> [tuple(w.shape) for w in dense.get_keras_weights()]
[(4, 3), (3,)]
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
from ..common import tracing
from ..common.config import LazyBuild, loaded_shape
from ._checks import ParameterFree, as_tensor, positive_int, rate
from .base import KerasLayer, check_weights

__all__ = ["Dense", "Embedding", "Masking", "Activation"]


# ---- Dense ---------------------------------------------------------------------------------------


class Dense(LazyBuild, KerasLayer):
    """Keras ``Dense``: ``activation(x @ kernel + bias)`` on the last axis of any-rank input.

    The weight is stored in torch's ``(units, in)`` layout for ``F.linear``;
    :meth:`get_keras_weights`/:meth:`set_keras_weights` use Keras's ``[kernel (in, units), bias]``.
    Without ``input_size`` the input size is taken from the first call or the first weights set.

    >>> import torch, keraslike_torch as kt
    >>> from keraslike_torch.layers import Dense
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
        self.units = positive_int("Dense units", units)
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
            self.build(positive_int("Dense input_size", input_size))

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
        x = as_tensor(inputs)
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
    >>> from keraslike_torch.layers import Embedding
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
        self.input_dim = positive_int("Embedding input_dim", input_dim)
        self.output_dim = positive_int("Embedding output_dim", output_dim)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.dropout = rate("Embedding dropout", dropout)
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
        ids = as_tensor(inputs)
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
        return as_tensor(inputs) != 0

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


class Masking(ParameterFree):
    """Keras ``Masking``: time steps whose features all equal ``mask_value`` are masked out
    (``compute_mask``) and zeroed in the output.

    >>> import torch
    >>> from keraslike_torch.layers import Masking
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


class Activation(ParameterFree):
    """Keras ``Activation`` with the Keras definition of the named function.

    >>> import torch
    >>> from keraslike_torch.layers import Activation
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

