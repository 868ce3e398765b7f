"""Converters of the attention layers: Attention, AdditiveAttention, MultiHeadAttention.

One small function per Keras class, for Keras 3 and tf-keras configs (tf-keras's deprecated
``causal``; its MultiHeadAttention records the build shapes ``query_shape``/``value_shape``/
``key_shape``, which size the layer now).

>>> import keraslike_torch as kt
>>> m = kt.converters.convert_layer("MultiHeadAttention", {"num_heads": 2, "key_dim": 3,
...     "query_shape": [None, 5, 4], "value_shape": [None, 5, 4], "key_shape": [None, 5, 4]})
>>> m.input_sizes, m.count_params()
((4, 4, 4), 118)
"""

from __future__ import annotations

from typing import Any

from ...layers import AdditiveAttention, Attention, KerasLayer, MultiHeadAttention
from ..guards import KerasFileError
from ..registry import ConvertContext, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import options as _options
from ..registry import unsupported as _unsupported


@register("Attention")
def _attention(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Attention", config, {"use_scale", "score_mode", "dropout", "causal"})
    return _build("Attention", config, Attention, **o, **_common(config, ctx))


@register("AdditiveAttention")
def _additive_attention(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("AdditiveAttention", config, {"use_scale", "dropout", "causal"}, ignored={"score_mode"})
    return _build("AdditiveAttention", config, AdditiveAttention, **o, **_common(config, ctx))


def _feature_size(shape: Any, kind: str, config: dict, option: str) -> int | None:
    if shape is None:
        return None
    if hasattr(shape, "as_list"):  # a live tf-keras layer's config holds TensorShapes
        shape = shape.as_list()
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise _unsupported(config, kind, option, shape, "only inputs of rank 3 (batch, T, dim) are supported")
    return int(shape[-1]) if isinstance(shape[-1], int) else None


@register("MultiHeadAttention")
def _multi_head_attention(config: dict, ctx: ConvertContext) -> KerasLayer:
    kind = "MultiHeadAttention"
    o = _options(
        kind,
        config,
        {"num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape", "kernel_initializer",
         "bias_initializer", "softmax_robust_masking"},
        ignored={"attention_axes", "use_gate", "sliding_window", "flash_attention", "query_shape", "value_shape",
                 "key_shape"},
        required=("num_heads", "key_dim"),
    )
    axes = config.get("attention_axes")
    if axes is not None and list(axes if isinstance(axes, (list, tuple)) else [axes]) not in ([1], [-2]):
        raise _unsupported(config, kind, "attention_axes", axes, "only the default, attention over axis 1")
    for option in ("use_gate", "flash_attention"):
        if config.get(option):
            raise _unsupported(config, kind, option, config[option])
    if config.get("sliding_window") is not None:
        raise _unsupported(config, kind, "sliding_window", config["sliding_window"])
    sizes = [_feature_size(config.get(f"{w}_shape"), kind, config, f"{w}_shape") for w in ("query", "value", "key")]
    if sizes[2] is None:
        sizes[2] = sizes[1]
    if all(s is not None for s in sizes):
        o["input_sizes"] = tuple(sizes)
    _charge(config, o, [s or 1 for s in sizes], ctx)
    return _build(kind, config, MultiHeadAttention, **o, **_common(config, ctx))


def _charge(config: dict, o: dict, sizes: list[int], ctx: ConvertContext) -> None:
    """Count the kernels against the file's parameter budget before anything is allocated."""
    heads, key_dim, value_dim = (o.get(k) for k in ("num_heads", "key_dim", "value_dim"))
    if not all(isinstance(v, int) and v > 0 for v in (heads, key_dim)):
        return  # the constructor names the bad value
    assert heads is not None and key_dim is not None
    value_dim = value_dim if isinstance(value_dim, int) and value_dim > 0 else key_dim
    fq, fv, fk = sizes
    params = heads * (key_dim * (fq + fk) + value_dim * (fv + fq))
    ctx.params_requested += params
    if ctx.params_requested > ctx.param_budget:
        raise KerasFileError(
            f"MultiHeadAttention layer {str(config.get('name', '?'))!r}: num_heads={heads}, key_dim={key_dim} "
            f"ask for {params} parameters, more than the file can hold (limit {ctx.param_budget}): "
            "refusing before allocating"
        )
