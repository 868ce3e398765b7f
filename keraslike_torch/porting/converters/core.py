"""Converters of the core layers: Dense, Embedding, Masking, Activation.

One small function per Keras class, for every Keras generation's config, built on
:mod:`keraslike_torch.porting.registry`'s shared option helpers.

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("Dense", {"output_dim": 3, "input_dim": 2}).get_keras_weights()[0].shape
(2, 3)
"""

from __future__ import annotations

from ...layers import Activation, Dense, Embedding, KerasLayer, Masking
from ..registry import ConvertContext, UnsupportedLayerError, register
from ..registry import build as _build
from ..registry import common_kwargs as _common
from ..registry import layer_label as _layer_label
from ..registry import options as _options


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
        required=("units",),
    )
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
        **_common(_embedding_dtype(config), ctx),
    )


_INT_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


def _embedding_dtype(config: dict) -> dict:
    """Keras 2.0.x wrote ``"dtype": "int32"`` into Embedding configs: the dtype of its integer
    input, not of its weights, which are float32."""
    dtype = config.get("dtype")
    return {**config, "dtype": "float32"} if isinstance(dtype, str) and dtype in _INT_DTYPES else config


@register("Masking")
def _masking(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Masking", config, {"mask_value"})
    return _build("Masking", config, Masking, **o, **_common(config, ctx))


@register("Activation")
def _activation(config: dict, ctx: ConvertContext) -> KerasLayer:
    o = _options("Activation", config, {"activation"}, required=("activation",))
    return _build("Activation", config, Activation, o["activation"], **_common(config, ctx))

