"""Converters of BatchNormalization (and its V1/V2/Sync names) and LayerNormalization.

>>> import keraslike_torch as kt
>>> kt.converters.convert_layer("BatchNormalization", {"axis": [2], "momentum": 0.9}).axis
2
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from ...layers import BatchNormalization, LayerNormalization
from ..registry import ConvertContext, build, config_dtype, options, register, unsupported

_BN_KEYS = {
    "axis",
    "momentum",
    "epsilon",
    "center",
    "scale",
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "synchronized",
    "renorm",
    "renorm_clipping",
    "renorm_momentum",
    "virtual_batch_size",
    "fused",
    "mode",
    "trainable",
}
_BN_RENAMES = {"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"}


def _axis_list(config: dict, kind: str, value: Any) -> list[int]:
    axes = (
        list(value)
        if not isinstance(value, (int, np.integer, str)) and value is not None
        else [value]
    )
    if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise unsupported(config, kind, "axis", value)
    return [int(a) for a in axes]  # type: ignore[arg-type]


@register("BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2")
def _batch_normalization(config: dict, ctx: ConvertContext) -> nn.Module:
    return _batch_norm(config, ctx, synchronized=False)


@register("SyncBatchNormalization")
def _sync_batch_normalization(config: dict, ctx: ConvertContext) -> nn.Module:
    return _batch_norm(config, ctx, synchronized=True)


def _batch_norm(config: dict, ctx: ConvertContext, synchronized: bool) -> nn.Module:
    kind = "BatchNormalization"
    o = options(kind, config, _BN_KEYS, _BN_RENAMES)
    if o.get("renorm"):
        raise unsupported(config, kind, "renorm", o["renorm"], "batch renormalization")
    if o.get("virtual_batch_size") is not None:
        raise unsupported(
            config, kind, "virtual_batch_size", o["virtual_batch_size"], "ghost batch normalization"
        )
    if o.get("mode", 0) != 0:
        raise unsupported(
            config, kind, "mode", o["mode"], "Keras 1 modes 1 and 2 normalize differently"
        )
    axes = _axis_list(config, kind, o.get("axis", -1))
    if len(axes) != 1:
        raise unsupported(config, kind, "axis", axes, "only one normalized axis")
    return build(
        kind,
        config,
        BatchNormalization,
        axes[0],
        float(o.get("momentum", 0.99)),
        float(o.get("epsilon", 1e-3)),
        bool(o.get("center", True)),
        bool(o.get("scale", True)),
        beta_initializer=o.get("beta_initializer", "zeros"),
        gamma_initializer=o.get("gamma_initializer", "ones"),
        moving_mean_initializer=o.get("moving_mean_initializer", "zeros"),
        moving_variance_initializer=o.get("moving_variance_initializer", "ones"),
        synchronized=bool(o.get("synchronized", synchronized)),
        trainable=bool(o.get("trainable", True)),
        keras_version=ctx.keras_version,
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )


@register("LayerNormalization")
def _layer_normalization(config: dict, ctx: ConvertContext) -> nn.Module:
    kind = "LayerNormalization"
    o = options(
        kind,
        config,
        {
            "axis",
            "epsilon",
            "center",
            "scale",
            "rms_scaling",
            "beta_initializer",
            "gamma_initializer",
        },
    )
    return build(
        kind,
        config,
        LayerNormalization,
        _axis_list(config, kind, o.get("axis", -1)),
        float(o.get("epsilon", 1e-3)),
        bool(o.get("center", True)),
        bool(o.get("scale", True)),
        rms_scaling=bool(o.get("rms_scaling", False)),
        beta_initializer=o.get("beta_initializer", "zeros"),
        gamma_initializer=o.get("gamma_initializer", "ones"),
        keras_version=ctx.keras_version,
        name=config.get("name"),
        dtype=config_dtype(config, ctx),
    )

