"""Converter of ``TimeDistributed``: the wrapped layer goes through the registry too.

>>> import keraslike_torch as kt
>>> td = kt.converters.convert_layer("TimeDistributed", {"layer": {"class_name": "Dense", "config": {"units": 2}}})
>>> type(td.layer).__name__
'Dense'
"""

from __future__ import annotations

from torch import nn

from ...layers import TimeDistributed
from ..registry import ConvertContext, UnsupportedLayerError, convert_layer, layer_label, options, register, unsupported


@register("TimeDistributed")
def _time_distributed(config: dict, ctx: ConvertContext) -> nn.Module:
    kind = "TimeDistributed"
    o = options(kind, config, {"layer"})
    inner = o.get("layer")
    if not isinstance(inner, dict) or "class_name" not in inner:
        raise UnsupportedLayerError(
            f"{layer_label(kind, config)} has no wrapped layer config"
        )
    module = convert_layer(inner["class_name"], inner.get("config") or {}, ctx)
    if getattr(module, "stateful", False):
        raise unsupported(config, kind, "layer", inner["class_name"], "a stateful wrapped layer")
    return TimeDistributed(module, keras_version=ctx.keras_version, name=config.get("name"))
