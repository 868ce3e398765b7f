"""Keras ``MultiHeadAttention`` (``keras/src/layers/attention/multi_head_attention.py``) on
``(batch, T, dim)`` inputs (the default ``attention_axes``).

Weights as Keras ``get_weights()`` gives them (its EinsumDense sublayers ``query``, ``key``,
``value``, ``attention_output``): ``[query kernel (dim_q, heads, key_dim), query bias
(heads, key_dim), key kernel (dim_k, heads, key_dim), key bias, value kernel (dim_v, heads,
value_dim), value bias (heads, value_dim), output kernel (heads, value_dim, *output_shape),
output bias (*output_shape)]`` (no biases with ``use_bias=False``).

The attention mask is Keras's: ``attention_mask`` AND ``query_mask[:, :, None]`` AND
``value_mask[:, None, :]`` AND ``key_mask[:, None, :]`` AND the causal mask. Keras fills the
three input masks from the tensors' own Keras masks (in a converted graph the loader passes
them); ``mask`` is the query's Keras mask as the graph passes it (used when ``query_mask`` is
None), and also the output's mask. Keras 3's call also REMOVES the Keras masks of its input
tensors, so a later layer reading the same tensors' masks (a second MultiHeadAttention on the
same sequence) runs unmasked: a loaded Keras 3 graph does the same.

Generation differences: Keras 3 without dropout and without ``return_attention_scores`` runs
``ops.dot_product_attention`` (logits scaled after the product; masked logits
``-0.7 * 3.38953e38``); otherwise the query is scaled first and a ``Softmax`` layer masks with
``-1e9`` and zeroes masked probabilities (Keras 3) or adds ``(1 - mask) * -1e9`` (tf-keras).
Keras 3 scales by ``1 / sqrt(key_dim)`` rounded to float32 (``tf.cast`` of a Python float), even
in float64; tf-keras by the exact value.

>>> import torch
>>> from keraslike_torch.layers import MultiHeadAttention
>>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
>>> out, scores = mha(torch.randn(3, 5, 6), torch.randn(3, 7, 6), return_attention_scores=True)
>>> tuple(out.shape), tuple(scores.shape), mha.count_params()
((3, 5, 6), (3, 2, 5, 7), 222)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import initializers as _initializers
from ..common.config import LazyBuild, as_bool_mask, loaded_shape
from ._checks import numpy, positive_int, rate
from .activation import masked_softmax
from .attention import causal_mask
from .base import KerasLayer, check_weights

__all__ = ["MultiHeadAttention"]

_PROJECTIONS = ("query", "key", "value", "output")


class MultiHeadAttention(LazyBuild, KerasLayer):
    """Keras ``MultiHeadAttention(num_heads, key_dim, value_dim=None, dropout=0.0,
    use_bias=True, output_shape=None)``; call ``mha(query, value, key=None, attention_mask=None,
    return_attention_scores=False, use_causal_mask=False)`` (or ``mha([query, value, key])``).
    Sized at the first call or by the
    weights (``input_sizes``: the feature sizes of query, value and key).

    >>> import torch
    >>> from keraslike_torch.layers import MultiHeadAttention
    >>> mha = MultiHeadAttention(2, 3, use_bias=False, output_shape=8)
    >>> mha(torch.randn(1, 4, 5), torch.randn(1, 2, 6)).shape
    torch.Size([1, 4, 8])
    >>> [w.shape for w in mha.get_keras_weights()]
    [(5, 2, 3), (6, 2, 3), (6, 2, 3), (2, 3, 8)]
    """

    keras_class = "MultiHeadAttention"
    supports_masking = True
    size_attr = "input_sizes"
    size_what = "input features (query, value, key)"
    # the graph passes these call arguments on, and fills ``<name>_mask`` from these inputs' masks
    keras_call_kwargs = frozenset({"value", "key", "attention_mask", "return_attention_scores",
                                   "use_causal_mask", "query_mask", "value_mask", "key_mask"})
    keras_mask_args = ("query", "value", "key")
    keras3_weight_groups = ("query_dense", "key_dense", "value_dense", "output_dense")
    keras3_clears_input_masks = True  # Keras 3's call sets the inputs' Keras masks to None
    # parameters registered in __init__ with setattr (declared here for type checkers)
    query_kernel: Tensor
    output_kernel: Tensor
    output_bias: Tensor | None

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | Sequence[int] | None = None,
        *,
        kernel_initializer: _initializers.InitializerLike = "glorot_uniform",
        bias_initializer: _initializers.InitializerLike = "zeros",
        softmax_robust_masking: bool = False,
        input_sizes: Sequence[int] | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name)
        self.num_heads = positive_int("MultiHeadAttention num_heads", num_heads)
        self.key_dim = positive_int("MultiHeadAttention key_dim", key_dim)
        self.value_dim = positive_int("MultiHeadAttention value_dim", value_dim) if value_dim else self.key_dim
        self.dropout = rate("MultiHeadAttention dropout", dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (int, np.integer)) and not isinstance(output_shape, bool):
            output_shape = (int(output_shape),)
        self.output_shape: tuple[int, ...] | None = (
            tuple(positive_int("MultiHeadAttention output_shape", d) for d in output_shape) if output_shape else None
        )
        self.keras_version = int(keras_version)
        self.softmax_robust_masking = bool(softmax_robust_masking)  # tf-keras: mask with ``where``
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.input_sizes: tuple[int, int, int] | None = None
        factory = {"device": device, "dtype": dtype}
        for p in _PROJECTIONS:
            setattr(self, f"{p}_kernel", nn.UninitializedParameter(**factory))
            if self.use_bias:
                setattr(self, f"{p}_bias", nn.UninitializedParameter(**factory))
            else:
                self.register_parameter(f"{p}_bias", None)
        if input_sizes is not None:
            self.build(tuple(input_sizes))

    # ---- shapes and weights -------------------------------------------------------------------

    def _shapes(self, sizes: Sequence[int]) -> dict[str, tuple[int, ...]]:
        fq, fv, fk = (int(s) for s in sizes)
        out = self.output_shape or (fq,)
        n, kd, vd = self.num_heads, self.key_dim, self.value_dim
        return {
            "query_kernel": (fq, n, kd), "query_bias": (n, kd),
            "key_kernel": (fk, n, kd), "key_bias": (n, kd),
            "value_kernel": (fv, n, vd), "value_bias": (n, vd),
            "output_kernel": (n, vd, *out), "output_bias": tuple(out),
        }

    def _names(self) -> list[str]:
        return [f"{p}_{w}" for p in _PROJECTIONS for w in ("kernel", "bias") if w == "kernel" or self.use_bias]

    def _materialize(self, sizes: tuple[int, ...]) -> None:
        if len(sizes) != 3:
            raise ValueError(f"MultiHeadAttention input_sizes must be (query, value, key) feature sizes, got {sizes}")
        shapes = self._shapes(sizes)
        with torch.no_grad():
            for n in self._names():
                getattr(self, n).materialize(shapes[n])
        self.input_sizes = (int(sizes[0]), int(sizes[1]), int(sizes[2]))

    def reset_parameters(self) -> None:
        """Draw fresh weights with the Keras initializers."""
        with torch.no_grad():
            for n in self._names():
                p = getattr(self, n)
                init = self.kernel_initializer if n.endswith("kernel") else self.bias_initializer
                p.copy_(init(torch.empty_like(p)))

    def built_config(self) -> dict[str, Any]:
        return {"input_sizes": self.input_sizes, "dtype": self.query_kernel.dtype}

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, key_dim={self.key_dim}, value_dim={self.value_dim}, "
                f"dropout={self.dropout}, use_bias={self.use_bias}, output_shape={self.output_shape}, "
                f"input_sizes={self.input_sizes}")

    def _require_built(self) -> None:
        if self.input_sizes is None:
            raise RuntimeError("MultiHeadAttention is not built yet: its kernels depend on the input sizes "
                               "(call it once or set Keras weights)")

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        self._require_built()
        assert self.input_sizes is not None
        shapes = self._shapes(self.input_sizes)
        return [shapes[n] for n in self._names()]

    def keras_weight_trainable(self) -> list[bool]:
        return [True] * len(self._names())

    def get_keras_weights(self) -> list[np.ndarray]:
        """The 8 (4 without biases) arrays of Keras ``get_weights()``, in its order."""
        if self.input_sizes is None:
            return []
        return [numpy(getattr(self, n)) for n in self._names()]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set the weights from Keras ``get_weights()``. Atomic; sizes an unbuilt layer."""
        sizes = self.input_sizes
        if sizes is None:
            step = 2 if self.use_bias else 1
            try:
                fq, fk, fv = (int(np.shape(weights[i * step])[0]) for i in range(3))
                sizes = (fq, fv, fk)
            except Exception:
                sizes = (1, 1, 1)
        shapes = self._shapes(sizes)
        ref = self.query_kernel
        tensors = check_weights(f"MultiHeadAttention {self.name!r}", weights, [shapes[n] for n in self._names()],
                                ref.dtype, ref.device)
        if self.input_sizes is None:
            self.build(sizes, initialize=False)
        with torch.no_grad():
            for n, t in zip(self._names(), tensors, strict=True):
                getattr(self, n).copy_(t)

    def keras_gradients(self) -> list[Tensor | None]:
        return [getattr(self, n).grad for n in self._names()]

    def keras_param_counts(self) -> tuple[int, int]:
        if self.input_sizes is None:
            return 0, 0
        return sum(int(np.prod(s)) for s in self.keras_weight_shapes()), 0

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        q, v, k = (loaded_shape(state_dict, f"{prefix}{p}_kernel") for p in ("query", "value", "key"))
        if self.input_sizes is None and q is not None and v is not None and k is not None:
            self.build((q[0], v[0], k[0]), initialize=False)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ---- forward ------------------------------------------------------------------------------

    def _input(self, x: Any, what: str) -> Tensor:
        t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
        if not t.is_floating_point():
            raise TypeError(f"MultiHeadAttention expects floating-point {what}, got {t.dtype}")
        if t.dim() != 3:
            raise ValueError(
                f"MultiHeadAttention supports {what} of rank 3 (batch, T, dim) (the default attention_axes); "
                f"got shape {tuple(t.shape)}"
            )
        return t

    def _project(self, x: Tensor, which: str) -> Tensor:
        y = torch.einsum("abc,cde->abde", x, getattr(self, f"{which}_kernel"))
        bias = getattr(self, f"{which}_bias")
        return y + bias if bias is not None else y

    def _attention_mask(self, query: Tensor, value: Tensor, masks: dict[str, Any], attention_mask: Any,
                        use_causal_mask: bool) -> Tensor | None:
        device = query.device
        auto: Tensor | None = None
        for which, axis in (("query", -1), ("value", -2), ("key", -2)):
            m = masks[which]
            if m is not None:
                part = as_bool_mask(m, device).unsqueeze(axis)
                auto = part if auto is None else auto & part
        if use_causal_mask:
            c = causal_mask(query.shape[1], value.shape[1], device)
            auto = c if auto is None else auto & c
        am = None if attention_mask is None else as_bool_mask(attention_mask, device)
        if auto is not None:
            am = auto if am is None else am & auto
        return am

    def forward(
        self,
        query: Tensor | Sequence[Tensor],
        value: Tensor | None = None,
        key: Tensor | None = None,
        *,
        query_mask: Tensor | None = None,
        value_mask: Tensor | None = None,
        key_mask: Tensor | None = None,
        attention_mask: Tensor | None = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
        mask: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        if isinstance(query, (list, tuple)) and value is None and 2 <= len(query) <= 3:
            query, value, key = (*query, None)[:3]  # mha([query, value(, key)])
        if value is None:
            raise TypeError("MultiHeadAttention takes (query, value, key=None): value is missing")
        q = self._input(query, "query")
        v = self._input(value, "value")
        k = v if key is None else self._input(key, "key")
        if k.shape[1] != v.shape[1]:
            raise ValueError(f"MultiHeadAttention: key and value need the same steps, got {tuple(k.shape)} "
                             f"and {tuple(v.shape)}")
        sizes = (int(q.shape[-1]), int(v.shape[-1]), int(k.shape[-1]))
        if self.input_sizes is None:
            self.build(sizes)
        elif sizes != self.input_sizes:
            raise ValueError(f"MultiHeadAttention was built for (query, value, key) features {self.input_sizes}, "
                             f"got {sizes}")
        ref = self.query_kernel
        if q.device != ref.device:
            raise ValueError(f"input is on {q.device} but the MultiHeadAttention weights are on {ref.device}")
        q, v, k = (t.to(ref.dtype) if t.dtype != ref.dtype else t for t in (q, v, k))
        masks = {"query": query_mask if query_mask is not None else mask, "value": value_mask, "key": key_mask}
        am = self._attention_mask(q, v, masks, attention_mask, use_causal_mask)
        qp, kp, vp = self._project(q, "query"), self._project(k, "key"), self._project(v, "value")
        inv_sqrt = 1.0 / math.sqrt(float(self.key_dim))
        if self.keras_version >= 3:  # Keras 3 casts the Python float with tf.cast: a float32 constant
            inv_sqrt = float(np.float32(inv_sqrt))
        m4 = None if am is None else am.unsqueeze(-3)  # (B, 1, T, S)
        scores: Tensor | None
        if self.keras_version >= 3 and self.dropout == 0.0 and not return_attention_scores:
            # keras.ops.dot_product_attention (TensorFlow backend)
            logits = torch.einsum("btnh,bsnh->bnts", qp, kp) * inv_sqrt
            if m4 is not None:
                neg = (65500.0 if logits.dtype == torch.float16 else 3.38953e38) * -0.7
                logits = torch.where(m4, logits, torch.full((), neg, dtype=logits.dtype, device=logits.device))
            probs = torch.softmax(logits, dim=-1)
            context = torch.einsum("bnts,bsnh->btnh", probs, vp)
            scores = None
        else:
            logits = torch.einsum("aecd,abcd->acbe", kp, qp * inv_sqrt)
            scores = masked_softmax(logits, m4, (3,), self.keras_version, self.softmax_robust_masking)
            dropped = F.dropout(scores, self.dropout, True) if self._training(training) and self.dropout > 0 else scores
            context = torch.einsum("acbe,aecd->abcd", dropped, vp)
        out = torch.einsum("abcd,cd...->ab...", context, self.output_kernel)
        if self.output_bias is not None:
            out = out + self.output_bias
        return (out, scores) if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """The query's mask (Keras)."""
        return None if mask is None else as_bool_mask(mask, None)
