"""Converters for nested models (Sequential, Functional, Model) and refusals of Python-code layers.

Lambda, TFOpLambda and SlicingOpLambda are refused with an error saying how to replace them
(``custom_objects``): their configs hold code or TensorFlow ops, never executed here.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..builders import MODEL_CLASSES, model_from_config
from ..registry import ConvertContext, UnsupportedLayerError, register


@register(*MODEL_CLASSES)
def _nested_model(config: dict, ctx: ConvertContext) -> nn.Module:
    """A model used as a layer: Functional when its config has layers and input_layers, else Sequential."""
    return model_from_config({"class_name": "Functional" if "layers" in config and "input_layers" in config
                              else "Sequential", "config": config}, ctx=ctx)


def _unsupported(kind: str, why: str) -> Any:
    def fail(config: dict, ctx: ConvertContext) -> nn.Module:
        raise UnsupportedLayerError(
            f"{kind} layer {config.get('name', '?')!r}: {why}; pass custom_objects={{{kind!r}: <torch module>}} "
            f"(or keyed by the layer name) to replace it"
        )

    return fail


register("Lambda")(_unsupported("Lambda", "it holds serialized Python code, which is never executed"))
register("TFOpLambda", "SlicingOpLambda")(
    _unsupported("TFOpLambda", "TensorFlow ops inside tf.keras graphs are not converted")
)
