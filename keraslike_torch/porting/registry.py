"""Keras layer configs -> torch modules: one small converter per Keras class, registered by name.

A converter takes the layer's config dict (any Keras generation: the loader passes the
generation in :class:`ConvertContext` so that e.g. ``"hard_sigmoid"`` means the right function)
and returns a module. Weights are set afterwards, through the module's ``set_keras_weights`` (the
one Keras -> torch layout conversion), after :mod:`keraslike_torch.layouts` has turned any file
layout (Keras 1, CuDNN) into the Keras 2/3 one.

>>> import keraslike_torch as kt
>>> m = kt.converters.convert_layer("LSTM", {"units": 4, "return_sequences": True})
>>> type(m).__name__, m.units, m.return_sequences
('LSTM', 4, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import config_checks
from .config_checks import InvalidConfigError, UnsupportedLayerError
from .formats import open_file_bytes
from .guards import KerasFileError, reading

__all__ = [
    "ConvertContext",
    "UnsupportedLayerError",
    "InvalidConfigError",
    "register",
    "convert_layer",
    "converter_names",
    "torch_dtype",
    "config_dtype",
    "is_ignored_key",
    "options",
    "unsupported",
    "build",
    "common_kwargs",
    "layer_label",
]


def _default_budget() -> int:
    return config_checks.param_budget(open_file_bytes())


@dataclass
class ConvertContext:
    """What converters need beyond the config: the Keras generation that wrote it (1, 2 or 3),
    user replacements for custom classes, the dtype to build in (None: the config's), and how many
    parameters the configs may ask for in all (by default derived from the size of the file being
    loaded, see :func:`keraslike_torch.config_checks.param_budget`)."""

    keras_version: int = 3
    custom_objects: dict[str, Any] = field(default_factory=dict)
    dtype: torch.dtype | None = None
    param_budget: int = field(default_factory=_default_budget)
    params_requested: int = 0


Converter = Callable[[dict, ConvertContext], nn.Module]
_CONVERTERS: dict[str, Converter] = {}


def register(*class_names: str) -> Callable[[Converter], Converter]:
    """Decorator: register a converter for one or more Keras class names."""

    def deco(fn: Converter) -> Converter:
        for name in class_names:
            _CONVERTERS[name] = fn
        return fn

    return deco


def converter_names() -> list[str]:
    """Keras class names that have a converter."""
    return sorted(_CONVERTERS)


def convert_layer(class_name: str, config: dict, ctx: ConvertContext | None = None,
                  registered_name: str | None = None) -> nn.Module:
    """Build the torch module for one Keras layer config.

    ``ctx.custom_objects`` may map the layer's name, its Keras 3 ``registered_name`` or its class
    name to a replacement: an ``nn.Module`` instance, or a callable taking the config and
    returning one (this also reaches layers inside Bidirectional and TimeDistributed). Raises
    :class:`UnsupportedLayerError` naming the class and layer for anything without a converter.
    """
    ctx = ctx or ConvertContext()
    plain = class_name[len("ops."):] if class_name.startswith("ops.") else class_name
    for key in (config.get("name"), registered_name, class_name, plain):
        custom = ctx.custom_objects.get(key) if isinstance(key, str) else None
        if custom is None:
            continue
        module = custom if isinstance(custom, nn.Module) else custom(config)
        if not isinstance(module, nn.Module):
            raise TypeError(f"custom_objects[{key!r}] must give an nn.Module, got {type(module).__name__}")
        return module
    fn = _CONVERTERS.get(class_name)
    if fn is None:
        raise UnsupportedLayerError(
            f"Keras layer {config.get('name', '?')!r} of class {class_name!r} has no converter; "
            f"pass custom_objects={{{class_name!r}: <torch module or factory>}} to replace it. "
            f"Supported classes: {', '.join(converter_names())}"
        )
    config = config_checks.check_layer_config(class_name, config)
    _charge(class_name, config, ctx)
    with reading(f"layer {str(config.get('name', '?'))!r} ({class_name})"):
        module = fn(config, ctx)
    if getattr(module, "name", None) is None:
        try:
            module.name = config.get("name")  # type: ignore[assignment]
        except AttributeError:  # pragma: no cover
            pass
    return module


def _charge(class_name: str, config: dict, ctx: ConvertContext) -> None:
    """Count the layer's parameters against ``ctx.param_budget`` before anything is allocated."""
    params = config_checks.estimated_params(class_name, config)
    ctx.params_requested += params
    if ctx.params_requested > ctx.param_budget:
        keys = ", ".join(f"{k}={config[k]!r}" for k in sorted(config_checks.SIZE_KEYS | {"kernel_size"}) if k in config)
        raise KerasFileError(
            f"{class_name} layer {str(config.get('name', '?'))!r}: {keys} ask for {params} parameters "
            f"({ctx.params_requested} in the model so far), more than the file can hold (limit "
            f"{ctx.param_budget}): refusing before allocating"
        )


_DTYPES = {
    "float16": torch.float16, "half": torch.float16, "bfloat16": torch.bfloat16,
    "float32": torch.float32, "float": torch.float32, "float64": torch.float64,
    "double": torch.float64,
    # mixed precision policies keep float32 variables
    "mixed_float16": torch.float32, "mixed_bfloat16": torch.float32,
}


def torch_dtype(keras_dtype: Any, default: torch.dtype = torch.float32, where: str = "") -> torch.dtype:
    """A Keras dtype or dtype-policy config (any generation) as a torch dtype; ``where`` (the
    layer, as :func:`layer_label` writes it) begins the error message."""
    if keras_dtype is None:
        return default
    if isinstance(keras_dtype, dict):
        cfg = keras_dtype.get("config", {})
        name = cfg.get("name") if isinstance(cfg, dict) else cfg
        return torch_dtype(name, default, where)
    name = str(keras_dtype)
    if name.startswith("<dtype: '"):  # repr of a tf.DType
        name = name[len("<dtype: '"): -2]
    if name not in _DTYPES:
        raise UnsupportedLayerError(f"{where or 'layer'}: unsupported Keras dtype {keras_dtype!r}")
    return _DTYPES[name]


def config_dtype(config: dict, ctx: ConvertContext, kind: str = "") -> torch.dtype:
    """The torch dtype a layer config asks for (``ctx.dtype`` overrides it); errors name the
    layer (``kind``: its Keras class)."""
    where = layer_label(kind, config) if kind else f"layer {str(config.get('name', '?'))!r}"
    return ctx.dtype if ctx.dtype is not None else torch_dtype(config.get("dtype"), where=where)


# ---- option checking, shared by every converter ------------------------------------------------

# Config keys that never change a layer's computation: bookkeeping, input declarations and
# training-only terms (regularizers, constraints). Every converter ignores them. (``input_dim`` is
# Keras 1's input size of a first layer, which the weights give; Embedding reads it as its vocabulary.)
IGNORED_KEYS = frozenset({
    "name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dtype",
    "input_length", "input_spec", "build_config", "seed", "dynamic", "autocast", "weights", "input_dim",
})


def is_ignored_key(key: str) -> bool:
    """True for config keys no converter needs to honour (see ``IGNORED_KEYS``)."""
    return key in IGNORED_KEYS or key.endswith(("_regularizer", "_constraint"))


def layer_label(kind: str, config: dict) -> str:
    """``"Dense layer 'fc1'"``: how every converter error names its layer."""
    return f"{kind} layer {str(config.get('name', '?'))!r}"


def options(
    kind: str,
    config: dict,
    known: set[str] | frozenset[str],
    renames: dict[str, str] | None = None,
    ignored: set[str] | frozenset[str] = frozenset(),
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The config's options under current Keras names (``renames``: an older generation's name ->
    the current one; the current one wins when both are present); keys that are neither
    ``known``, ``ignored`` nor :func:`is_ignored_key`, and ``required`` keys that are missing,
    raise :class:`UnsupportedLayerError`.

    >>> options("Dense", {"units": 2, "output_dim": 3, "name": "d"}, {"units"}, {"output_dim": "units"})
    {'units': 2}
    """
    if not isinstance(config, dict):
        raise UnsupportedLayerError(f"{kind} config must be a dict, got {type(config).__name__}")
    c = dict(config)
    for old, new in (renames or {}).items():
        if old in c:
            value = c.pop(old)
            c.setdefault(new, value)
    unknown = sorted(k for k in c if k not in known and k not in ignored and not is_ignored_key(k))
    if unknown:
        raise UnsupportedLayerError(f"{layer_label(kind, config)}: unsupported config option(s) {unknown}")
    for key in required:
        if key not in c:
            raise UnsupportedLayerError(f"{layer_label(kind, config)} has no {key!r}")
    return {k: c[k] for k in known if k in c}


def unsupported(config: dict, kind: str, option: str, value: Any, why: str = "") -> UnsupportedLayerError:
    """The error for an option value we cannot honour, naming the layer and the option."""
    return UnsupportedLayerError(
        f"{layer_label(kind, config)}: {option}={value!r} is not supported" + (f" ({why})" if why else "")
    )


def build(kind: str, config: dict, factory: Any, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)``, with a constructor's ValueError/TypeError named after the layer."""
    try:
        return factory(*args, **kwargs)
    except (ValueError, TypeError) as e:
        if isinstance(e, UnsupportedLayerError):
            raise
        raise UnsupportedLayerError(f"{layer_label(kind, config)}: {e}") from None


def common_kwargs(config: dict, ctx: ConvertContext) -> dict[str, Any]:
    """The keywords every layer constructor takes from its config: generation, name, dtype."""
    return {"keras_version": ctx.keras_version, "name": config.get("name"), "dtype": config_dtype(config, ctx)}
