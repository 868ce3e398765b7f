"""Keras ``Attention`` (Luong, dot-product) and ``AdditiveAttention`` (Bahdanau)
(``keras/src/layers/attention/attention.py``, ``additive_attention.py``).

Called like Keras on a list ``[query, value]`` or ``[query, value, key]`` (``key`` defaults to
``value``) of ``(batch, T, dim)`` tensors, with ``mask=[query_mask, value_mask]``,
``return_attention_scores`` and ``use_causal_mask`` (tf-keras's deprecated constructor argument
``causal=True`` is the same). Scores at masked value positions get ``-1e9`` (float16: ``-65504``)
before the softmax; outputs at masked query positions are zero (Keras 3 ``where``, tf-keras a
multiplication by the mask); the output mask is the query mask. Dropout on the attention
distribution applies in training only. MultiHeadAttention is in
:mod:`keraslike_torch.layers.multi_head_attention`.

>>> import torch
>>> from keraslike_torch.layers import Attention
>>> q, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
>>> out, scores = Attention()([q, v], return_attention_scores=True)
>>> tuple(out.shape), tuple(scores.shape)
((2, 3, 4), (2, 3, 5))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import initializers as _initializers
from ..common.config import LazyBuild, as_bool_mask, loaded_shape
from ._checks import dtype_buffer, numpy, rate
from .base import KerasLayer, check_weights

__all__ = ["Attention", "AdditiveAttention", "causal_mask"]


def causal_mask(tq: int, tv: int, device: Any = None) -> Tensor:
    """Keras's causal mask ``(1, Tq, Tv)``: query step ``i`` sees value steps ``j <= i``."""
    return torch.ones(tq, tv, dtype=torch.bool, device=device).tril().unsqueeze(0)


class _DenseAttention(KerasLayer):
    """What Attention and AdditiveAttention share: the call, masks, softmax, dropout."""

    supports_masking = True
    keras_call_kwargs = frozenset({"return_attention_scores", "use_causal_mask"})
    _dtype_ref: Tensor

    def __init__(self, dropout: float, causal: bool, keras_version: int, name: str | None,
                 device: Any, dtype: torch.dtype | None) -> None:
        super().__init__(name)
        self.keras_version = int(keras_version)
        self.dropout = rate(f"{self.keras_class} dropout", dropout)
        self.causal = bool(causal)
        dtype_buffer(self, device, dtype)

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype_ref.dtype

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        raise NotImplementedError

    def _unpack(self, inputs: Any, mask: Any) -> tuple[list[Tensor], Tensor | None, Tensor | None]:
        kind = self.keras_class
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"{kind} layer must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key]; got {type(inputs).__name__}"
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{kind} layer accepts a list of 2 or 3 inputs [query, value, key], got {len(inputs)}")
        xs = []
        for x in inputs:
            t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
            if not t.is_floating_point():
                raise TypeError(f"{kind} expects floating-point inputs, got {t.dtype}")
            xs.append(t.to(self.dtype) if t.dtype != self.dtype else t)
        if any(x.dim() < 3 for x in xs):
            raise ValueError(f"{kind} expects inputs of rank >= 3 (batch, T, dim); got {[tuple(x.shape) for x in xs]}")
        q_mask = v_mask = None
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
                raise ValueError(f"{kind} layer mask must be a list [query_mask, value_mask], got {mask!r}")
            device = xs[0].device
            q_mask = None if mask[0] is None else as_bool_mask(mask[0], device)
            v_mask = None if mask[1] is None else as_bool_mask(mask[1], device)
        return xs, q_mask, v_mask

    def forward(
        self,
        inputs: Sequence[Tensor],
        mask: Sequence[Tensor | None] | None = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        xs, q_mask, v_mask = self._unpack(inputs, mask)
        q, v = xs[0], xs[1]
        k = xs[2] if len(xs) > 2 else v
        if k.shape[-2] != v.shape[-2]:
            raise ValueError(f"{self.keras_class}: key and value need the same number of steps, "
                             f"got {tuple(k.shape)} and {tuple(v.shape)}")
        scores = self._scores(q, k)
        scores_mask = None if v_mask is None else v_mask.unsqueeze(-2)
        if use_causal_mask or self.causal:
            c = causal_mask(scores.shape[-2], scores.shape[-1], scores.device)
            scores_mask = c if scores_mask is None else scores_mask & c
        if scores_mask is not None:
            big = 65504.0 if scores.dtype == torch.float16 else 1.0e9
            scores = torch.where(scores_mask, scores, scores - big)
        weights = torch.softmax(scores, dim=-1)
        dropped = weights
        if self._training(training) and self.dropout > 0:
            dropped = F.dropout(weights, self.dropout, True)
        out = torch.matmul(dropped, v)
        if q_mask is not None:
            keep = q_mask.unsqueeze(-1)
            if self.keras_version >= 3:
                out = torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))
            else:
                out = out * keep.to(out.dtype)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """The query mask (Keras)."""
        if not mask or mask[0] is None:
            return None
        return as_bool_mask(mask[0], None)

    def keras_weight_trainable(self) -> list[bool]:
        return [True] * len(self._weight_names())

    def _weight_names(self) -> list[str]:
        return []

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(getattr(self, n).shape) for n in self._weight_names()]

    def get_keras_weights(self) -> list[np.ndarray]:
        return [numpy(getattr(self, n)) for n in self._weight_names()]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set the weights in Keras ``get_weights()`` order. Atomic."""
        names = self._weight_names()
        tensors = check_weights(f"{self.keras_class} {self.name!r}", weights, self.keras_weight_shapes(),
                                self.dtype, self._dtype_ref.device)
        with torch.no_grad():
            for n, t in zip(names, tensors, strict=True):
                getattr(self, n).copy_(t)

    def keras_gradients(self) -> list[Tensor | None]:
        return [getattr(self, n).grad for n in self._weight_names()]


class Attention(_DenseAttention):
    """Keras ``Attention(use_scale=False, score_mode="dot", dropout=0.0)``: scores
    ``query @ key^T`` (times the learned scalar ``scale`` with ``use_scale``) or, with
    ``score_mode="concat"``, ``concat_score_weight * sum(tanh(scale * (q + k)))``; weights
    ``[scale][, concat_score_weight]``, both scalars initialized to 1.

    >>> import torch
    >>> from keraslike_torch.layers import Attention
    >>> a = Attention(use_scale=True, score_mode="concat")
    >>> [w.shape for w in a.get_keras_weights()]
    [(), ()]
    """

    keras_class = "Attention"

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        *,
        causal: bool = False,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(dropout, causal, keras_version, name, device, dtype)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        factory = {"device": device, "dtype": self.dtype}
        self.scale = nn.Parameter(torch.ones((), **factory)) if self.use_scale else None
        self.concat_score_weight = nn.Parameter(torch.ones((), **factory)) if score_mode == "concat" else None

    def _weight_names(self) -> list[str]:
        return [n for n in ("scale", "concat_score_weight") if getattr(self, n) is not None]

    def extra_repr(self) -> str:
        return f"use_scale={self.use_scale}, score_mode={self.score_mode!r}, dropout={self.dropout}"

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        if self.score_mode == "dot":
            scores = torch.matmul(query, key.transpose(-2, -1))
            return scores * self.scale if self.scale is not None else scores
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)
        if self.scale is not None:
            summed = self.scale * summed
        assert self.concat_score_weight is not None
        return self.concat_score_weight * torch.sum(torch.tanh(summed), dim=-1)


class AdditiveAttention(LazyBuild, _DenseAttention):
    """Keras ``AdditiveAttention(use_scale=True, dropout=0.0)``: scores
    ``sum(scale * tanh(q + k), axis=-1)`` with a learned ``scale`` of shape ``(dim,)``
    (glorot_uniform), sized by the first call or the weights.

    >>> import torch
    >>> from keraslike_torch.layers import AdditiveAttention
    >>> a = AdditiveAttention()
    >>> a([torch.zeros(1, 2, 3), torch.zeros(1, 4, 3)]).shape, a.count_params()
    (torch.Size([1, 2, 3]), 3)
    """

    keras_class = "AdditiveAttention"
    size_what = "features (dim)"

    def __init__(
        self,
        use_scale: bool = True,
        dropout: float = 0.0,
        *,
        input_size: int | None = None,
        causal: bool = False,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(dropout, causal, keras_version, name, device, dtype)
        self.use_scale = bool(use_scale)
        self.scale_initializer = _initializers.get("glorot_uniform")
        self.input_size: int | None = None
        if self.use_scale:
            self.scale = nn.UninitializedParameter(device=device, dtype=self.dtype)  # type: ignore[call-arg]
        else:
            self.register_parameter("scale", None)
        if input_size is not None:
            self.build(int(input_size))

    @property
    def built(self) -> bool:
        return self.input_size is not None or not self.use_scale

    def _materialize(self, size: int) -> None:
        if self.scale is not None:
            with torch.no_grad():
                self.scale.materialize((size,))
        self.input_size = int(size)

    def reset_parameters(self) -> None:
        if self.scale is not None:
            with torch.no_grad():
                self.scale.copy_(self.scale_initializer(torch.empty_like(self.scale)))

    def built_config(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "dtype": self.dtype}

    def _weight_names(self) -> list[str]:
        return ["scale"] if self.scale is not None else []

    def extra_repr(self) -> str:
        return f"use_scale={self.use_scale}, dropout={self.dropout}, input_size={self.input_size}"

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        if self.scale is None:
            return []
        if self.input_size is None:
            raise RuntimeError("AdditiveAttention is not built yet: its scale has the inputs' feature size")
        return [(self.input_size,)]

    def get_keras_weights(self) -> list[np.ndarray]:
        return super().get_keras_weights() if self.input_size is not None else []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set ``[scale (dim,)]`` from Keras; sizes an unbuilt layer. Atomic."""
        if self.scale is not None and self.input_size is None:
            shape = np.shape(weights[0]) if isinstance(weights, (list, tuple)) and weights else ()
            size = int(shape[0]) if len(shape) == 1 else 1
            check_weights(f"AdditiveAttention {self.name!r}", weights, [(size,)], self.dtype)
            self.build(size, initialize=False)
        super().set_keras_weights(weights)

    def keras_param_counts(self) -> tuple[int, int]:
        return (self.input_size or 0, 0) if self.scale is not None else (0, 0)

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        if self.scale is not None and self.input_size is None:
            self.build(int(query.shape[-1]))
        t = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        return torch.sum(self.scale * t if self.scale is not None else t, dim=-1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        shape = loaded_shape(state_dict, prefix + "scale")
        if self.scale is not None and self.input_size is None and shape is not None:
            self.build(shape[0], initialize=False)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
