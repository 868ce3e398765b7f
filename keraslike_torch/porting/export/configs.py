"""torch modules -> Keras layer configs: one small writer per module class, registered by class
(the mirror of :mod:`keraslike_torch.porting.registry`, which goes from class names to modules).

A writer returns the layer's Keras class name and its own config keys, with the defaults real
Keras writes for the target generation (3: Keras 3; 2: tf-keras 2.x); :func:`layer_config` adds
what every layer config holds (name, trainable, dtype) in that generation's form. Semantics a
generation cannot express raise :class:`ExportError` naming the layer and the way out.

>>> import keraslike_torch as kt
>>> entry = layer_config(kt.GRU(3, name="g"), 2)
>>> entry["class_name"], entry["config"]["reset_after"], entry["config"]["dtype"]
('GRU', True, 'float32')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...layers import (
    Activation,
    Add,
    Average,
    AveragePooling1D,
    BatchNormalization,
    Concatenate,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    KerasOp,
    LayerNormalization,
    Masking,
    Maximum,
    MaxPooling1D,
    Minimum,
    Multiply,
    Permute,
    RepeatVector,
    Reshape,
    SpatialDropout1D,
    Subtract,
    TimeDistributed,
)
from ...recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from ..config_checks import UnsupportedLayerError

__all__ = ["ExportError", "writes", "layer_config", "activation_name", "layer_label", "snake_case"]


class ExportError(UnsupportedLayerError):
    """A module (or a setting of one) that the chosen Keras file format cannot express."""


Writer = Callable[[Any, int], tuple[str, dict[str, Any]]]
_WRITERS: dict[type, Writer] = {}


def writes(*classes: type) -> Callable[[Writer], Writer]:
    """Decorator: register a config writer for one or more module classes."""

    def deco(fn: Writer) -> Writer:
        for cls in classes:
            _WRITERS[cls] = fn
        return fn

    return deco


def snake_case(name: str) -> str:
    """``"SimpleRNN"`` -> ``"simple_rnn"``, as Keras names layers and weight groups."""
    import re

    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_label(module: nn.Module) -> str:
    """``"LSTM layer 'lstm'"``: how export errors name a layer."""
    return f"{type(module).__name__} layer {getattr(module, 'name', None)!r}"


def _writer_for(module: nn.Module, name: str | None = None) -> Writer:
    for cls in type(module).__mro__:
        if cls in _WRITERS:
            return _WRITERS[cls]
    known = ", ".join(sorted(c.__name__ for c in _WRITERS))
    raise ExportError(
        f"{type(module).__name__} module {name or getattr(module, 'name', None) or ''!r} has no Keras "
        f"equivalent that keraslike_torch can write; exportable modules: {known} and models "
        "built from them (kt.load_model / kt.model_from_json)"
    )


# ---- values in each generation's form ----------------------------------------------------------

_KERAS2_NAMES = {"silu": "swish"}
_KERAS2_ACTIVATIONS = {"elu", "exponential", "gelu", "hard_sigmoid", "linear", "mish", "relu", "selu",
                       "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh"}
_KERAS3_ACTIVATIONS = {"celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid", "hard_silu",
                       "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu",
                       "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign",
                       "sparse_plus", "sparse_sigmoid", "squareplus", "tanh", "tanh_shrink"}


def activation_name(module: nn.Module, activation: Any, generation: int, option: str = "activation") -> str:
    """The name generation ``generation`` gives ``activation`` (a kt Activation); an error naming
    the layer and the option when that generation has no function with the same numbers."""
    name = str(getattr(activation, "name", activation))
    if generation >= 3:
        if name == "hard_sigmoid_keras2":
            raise ExportError(
                f"{layer_label(module)}: {option} is the Keras 2 hard_sigmoid (slope 0.2), which "
                "Keras 3 does not have (its hard_sigmoid has slope 1/6); save to .h5 for tf-keras instead"
            )
        if name in _KERAS3_ACTIVATIONS:
            return name
        raise ExportError(f"{layer_label(module)}: {option}={name!r} has no Keras 3 equivalent")
    if name == "hard_sigmoid":
        raise ExportError(
            f"{layer_label(module)}: {option} is the Keras 3 hard_sigmoid (slope 1/6), which tf-keras "
            "does not have (its hard_sigmoid has slope 0.2); save to .keras for Keras 3 instead"
        )
    name = "hard_sigmoid" if name == "hard_sigmoid_keras2" else _KERAS2_NAMES.get(name, name)
    if name in _KERAS2_ACTIVATIONS:
        return name
    raise ExportError(f"{layer_label(module)}: {option}={name!r} has no tf-keras equivalent; save to .keras")


# Keras initializer classes: default config in Keras 3 and in tf-keras.
_VS3 = {"seed": None, "input_axes": None, "output_axes": None}
_INITIALIZERS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "GlorotUniform": (_VS3, {"seed": None}), "GlorotNormal": (_VS3, {"seed": None}),
    "HeUniform": (_VS3, {"seed": None}), "HeNormal": (_VS3, {"seed": None}),
    "LecunUniform": (_VS3, {"seed": None}), "LecunNormal": (_VS3, {"seed": None}),
    "Orthogonal": ({"seed": None, "gain": 1.0}, {"gain": 1.0, "seed": None}),
    "Zeros": ({}, {}), "Ones": ({}, {}),
    "Constant": ({"value": 0.0}, {"value": 0}),
    "Identity": ({}, {"gain": 1.0}),
    "RandomUniform": ({"seed": None, "minval": -0.05, "maxval": 0.05}, {"minval": -0.05, "maxval": 0.05, "seed": None}),
    "RandomNormal": ({"seed": None, "mean": 0.0, "stddev": 0.05}, {"mean": 0.0, "stddev": 0.05, "seed": None}),
    "TruncatedNormal": ({"seed": None, "mean": 0.0, "stddev": 0.05}, {"mean": 0.0, "stddev": 0.05, "seed": None}),
    "VarianceScaling": (
        {"seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
         "input_axes": None, "output_axes": None},
        {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None},
    ),
}
_INIT_ALIASES = {snake_case(k): k for k in _INITIALIZERS} | {
    "zero": "Zeros", "one": "Ones", "uniform": "RandomUniform", "normal": "RandomNormal",
    "orthogonal_initializer": "Orthogonal", "identity_initializer": "Identity",
}


def initializer_config(value: Any, default: str, generation: int) -> dict[str, Any]:
    """A recorded initializer (name, Keras config dict, or a callable) as the generation's config.
    Initializers do not change a loaded model's numbers; one Keras cannot name becomes ``default``."""
    class_name, given = default, {}
    if isinstance(value, str):
        class_name = value if value in _INITIALIZERS else _INIT_ALIASES.get(snake_case(value), default)
    elif isinstance(value, dict) and isinstance(value.get("class_name"), str):
        raw = value["class_name"]
        class_name = raw if raw in _INITIALIZERS else _INIT_ALIASES.get(snake_case(raw), default)
        if class_name == raw or _INIT_ALIASES.get(snake_case(raw)) == class_name:
            given = dict(value.get("config") or {})
    template = _INITIALIZERS[class_name][0 if generation >= 3 else 1]
    config = {k: given.get(k, v) for k, v in template.items()}
    return {"module": "keras.initializers", "class_name": class_name, "config": config, "registered_name": None}


def dtype_name(module: nn.Module) -> str:
    """The float dtype the module computes in, as Keras names it."""
    t = next((p for p in [*module.parameters(), *module.buffers()] if p.is_floating_point()), None)
    dtype = t.dtype if t is not None else getattr(module, "dtype", None)
    if not isinstance(dtype, torch.dtype):
        dtype = torch.get_default_dtype()
    return {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64"}.get(dtype, "float32")


def dtype_config(name: str, generation: int) -> Any:
    if generation >= 3:
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}
    return name


def layer_config(module: nn.Module, generation: int, name: str | None = None,
                 written: tuple[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{"module", "class_name", "config", "registered_name"}`` for one layer (tf-keras: the
    same keys; a model adds ``name`` and ``inbound_nodes``), as Keras ``serialize_keras_object``
    writes it."""
    class_name, body = written or _writer_for(module, name)(module, generation)
    config: dict[str, Any] = {"name": name or getattr(module, "name", None) or snake_case(class_name)}
    if class_name != "SpatialDropout1D" or generation < 3:
        config["trainable"] = bool(getattr(module, "trainable", True))
    config["dtype"] = dtype_config(dtype_name(module), generation)
    config.update(body)
    if class_name == "SpatialDropout1D" and generation >= 3:  # Keras 3.15 writes its own short config
        config = {"rate": body["rate"], "seed": None, "name": config["name"], "dtype": dtype_name(module)}
    return {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}


def _init(module: nn.Module, key: str, default: str, generation: int, source: Any = None) -> dict[str, Any]:
    recorded = (source if source is not None else module)
    cfg: Any = getattr(recorded, "get_config", lambda: {})()
    value = cfg.get(key) if isinstance(cfg, dict) else None
    if value is None:
        value = getattr(recorded, "_init_config", {}).get(key)
    return initializer_config(value, default, generation)


_NONES = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
          "kernel_constraint", "recurrent_constraint", "bias_constraint")


@writes(LSTM, GRU, SimpleRNN)
def _rnn(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return _rnn_config(m, gen)


def _rnn_config(m: Any, gen: int, bidirectional_copy: bool = False) -> tuple[str, dict[str, Any]]:
    cell = m.cell
    kind = "LSTM" if isinstance(m, LSTM) else "GRU" if isinstance(m, GRU) else "SimpleRNN"
    if m.time_major and gen >= 3:
        raise ExportError(f"{layer_label(m)}: time_major=True does not exist in Keras 3; save to .h5 for tf-keras")
    if m.stateful:
        raise ExportError(f"{layer_label(m)}: stateful layers need a fixed batch size in Keras; "
                          "not written (build the Keras model with batch_shape yourself)")
    c: dict[str, Any] = {
        "return_sequences": m.return_sequences, "return_state": m.return_state,
        "go_backwards": m.go_backwards, "stateful": m.stateful, "unroll": m.unroll,
    }
    if gen >= 3:
        c["zero_output_for_mask"] = m.zero_output_for_mask
    else:
        c["time_major"] = m.time_major
        if m.zero_output_for_mask and not bidirectional_copy:
            # tf-keras only sets it for Bidirectional's copies (from return_sequences), not from a config
            raise ExportError(
                f"{layer_label(m)}: zero_output_for_mask=True cannot be written for tf-keras; save to .keras")
    c["units"] = m.units
    c["activation"] = activation_name(m, cell.activation, gen)
    if kind != "SimpleRNN":
        c["recurrent_activation"] = activation_name(m, cell.recurrent_activation, gen, "recurrent_activation")
    c["use_bias"] = cell.use_bias
    c["kernel_initializer"] = _init(m, "kernel_initializer", "GlorotUniform", gen, cell)
    c["recurrent_initializer"] = _init(m, "recurrent_initializer", "Orthogonal", gen, cell)
    c["bias_initializer"] = _init(m, "bias_initializer", "Zeros", gen, cell)
    if kind == "LSTM":
        c["unit_forget_bias"] = bool(getattr(cell, "unit_forget_bias", True))
    c.update(dict.fromkeys(_NONES))
    c["dropout"], c["recurrent_dropout"] = float(m.dropout), float(m.recurrent_dropout)
    if gen < 3 and kind != "SimpleRNN":
        c["implementation"] = int(m.implementation)
    if kind == "GRU":
        c["reset_after"] = bool(cell.reset_after)
    if gen >= 3 and kind != "SimpleRNN":
        c["seed"] = None
    return kind, c


@writes(Bidirectional)
def _bidirectional(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    inner = m.forward_layer
    # Keras names the copies forward_<layer> / backward_<layer>; the config holds the wrapped layer.
    base = _strip(getattr(inner, "name", None), "forward_") or snake_case(type(inner).__name__)

    def copy(layer: Any, name: str) -> dict[str, Any]:
        return layer_config(layer, gen, name, _rnn_config(layer, gen, bidirectional_copy=True))

    layer = copy(inner, base if gen < 3 else f"forward_{base}")
    c: dict[str, Any] = {}
    if gen >= 3:
        c["merge_mode"] = m.merge_mode
        c["layer"] = layer
        c["backward_layer"] = copy(m.backward_layer, f"backward_{base}")
    else:
        c["layer"] = layer
        c["merge_mode"] = m.merge_mode
    if gen < 3 and not _same_but_direction(m):
        c["backward_layer"] = copy(m.backward_layer, f"backward_{base}")
    return "Bidirectional", c


def _strip(name: Any, prefix: str) -> str | None:
    if not isinstance(name, str):
        return None
    return name[len(prefix):] if name.startswith(prefix) else name


def _same_but_direction(m: Any) -> bool:
    f, b = m.forward_layer, m.backward_layer
    return (type(f) is type(b) and f.units == b.units and f.return_sequences == b.return_sequences
            and f.return_state == b.return_state and f.go_backwards != b.go_backwards
            and f.cell.activation.name == b.cell.activation.name
            and getattr(f.cell, "recurrent_activation", None) == getattr(b.cell, "recurrent_activation", None)
            and getattr(f.cell, "reset_after", None) == getattr(b.cell, "reset_after", None)
            and f.cell.use_bias == b.cell.use_bias)


@writes(TimeDistributed)
def _time_distributed(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "TimeDistributed", {"layer": layer_config(m.layer, gen)}


@writes(Dense)
def _dense(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    c = {"units": m.units, "activation": activation_name(m, m.activation, gen), "use_bias": m.use_bias,
         "kernel_initializer": _init(m, "kernel_initializer", "GlorotUniform", gen),
         "bias_initializer": _init(m, "bias_initializer", "Zeros", gen),
         "kernel_regularizer": None, "bias_regularizer": None}
    if gen < 3:
        c["activity_regularizer"] = None
    c.update(kernel_constraint=None, bias_constraint=None)
    if gen >= 3:
        c["quantization_config"] = None
    return "Dense", c


@writes(Embedding)
def _embedding(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    if getattr(m, "dropout", 0.0):
        raise ExportError(f"{layer_label(m)}: Keras 1's Embedding dropout has no Keras 2/3 equivalent")
    c: dict[str, Any] = {}
    if gen < 3:
        c["batch_input_shape"] = [None, None]
    c.update(input_dim=m.input_dim, output_dim=m.output_dim,
             embeddings_initializer=_init(m, "embeddings_initializer", "RandomUniform", gen),
             embeddings_regularizer=None, activity_regularizer=None, embeddings_constraint=None,
             mask_zero=bool(m.mask_zero))
    if gen >= 3:
        c["quantization_config"] = None
    else:
        c["input_length"] = None
    return "Embedding", c


@writes(Masking)
def _masking(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Masking", {"mask_value": float(m.mask_value)}


@writes(Activation)
def _activation(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Activation", {"activation": activation_name(m, m.activation, gen)}


@writes(Dropout)
def _dropout(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    if isinstance(m, SpatialDropout1D):
        return "SpatialDropout1D", {"rate": float(m.rate), "noise_shape": None, "seed": None}
    shape = list(m.noise_shape) if m.noise_shape is not None else None
    if gen >= 3:
        return "Dropout", {"rate": float(m.rate), "seed": None, "noise_shape": shape}
    return "Dropout", {"rate": float(m.rate), "noise_shape": shape, "seed": None}


@writes(GaussianNoise)
def _gaussian_noise(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "GaussianNoise", {"stddev": float(m.stddev), "seed": None}


@writes(GaussianDropout)
def _gaussian_dropout(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "GaussianDropout", {"rate": float(m.rate), "seed": None}


@writes(Add, Subtract, Multiply, Average, Maximum, Minimum)
def _merge(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return m.keras_class, {}


@writes(Concatenate)
def _concatenate(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Concatenate", {"axis": int(m.axis)}


@writes(RepeatVector)
def _repeat_vector(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "RepeatVector", {"n": int(m.n)}


@writes(Flatten)
def _flatten(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Flatten", {"data_format": getattr(m, "data_format", None) or "channels_last"}


@writes(Reshape)
def _reshape(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Reshape", {"target_shape": [int(d) for d in m.target_shape]}


@writes(Permute)
def _permute(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Permute", {"dims": [int(d) for d in m.dims]}


def _tuple1(v: Any) -> list[int]:
    return [int(v)] if not isinstance(v, (tuple, list)) else [int(d) for d in v]


@writes(Conv1D)
def _conv1d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    c = {"filters": m.filters, "kernel_size": _tuple1(m.kernel_size), "strides": _tuple1(m.strides),
         "padding": m.padding, "data_format": m.data_format or "channels_last",
         "dilation_rate": _tuple1(m.dilation_rate), "groups": int(m.groups),
         "activation": activation_name(m, m.activation, gen), "use_bias": m.use_bias,
         "kernel_initializer": _init(m, "kernel_initializer", "GlorotUniform", gen),
         "bias_initializer": _init(m, "bias_initializer", "Zeros", gen),
         "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
         "kernel_constraint": None, "bias_constraint": None}
    return "Conv1D", c


@writes(MaxPooling1D, AveragePooling1D)
def _pooling(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    size, strides = _tuple1(m.pool_size), _tuple1(m.strides if m.strides is not None else m.pool_size)
    fmt = getattr(m, "data_format", None) or "channels_last"
    if gen >= 3:
        return m.keras_class, {"pool_size": size, "padding": m.padding, "strides": strides, "data_format": fmt}
    return m.keras_class, {"strides": strides, "pool_size": size, "padding": m.padding, "data_format": fmt}


@writes(GlobalMaxPooling1D, GlobalAveragePooling1D)
def _global_pooling(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return m.keras_class, {"data_format": getattr(m, "data_format", None) or "channels_last",
                           "keepdims": bool(getattr(m, "keepdims", False))}


def _axis(v: Any) -> Any:
    return [int(a) for a in v] if isinstance(v, (tuple, list)) else int(v)


@writes(BatchNormalization)
def _batch_norm(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    c = {"axis": _axis(m.axis), "momentum": float(m.momentum), "epsilon": float(m.epsilon),
         "center": bool(m.center), "scale": bool(m.scale),
         "beta_initializer": _init(m, "beta_initializer", "Zeros", gen),
         "gamma_initializer": _init(m, "gamma_initializer", "Ones", gen),
         "moving_mean_initializer": _init(m, "moving_mean_initializer", "Zeros", gen),
         "moving_variance_initializer": _init(m, "moving_variance_initializer", "Ones", gen),
         "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None}
    if gen >= 3:
        c.update(synchronized=bool(getattr(m, "synchronized", False)), renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99)
    return "BatchNormalization", c


@writes(LayerNormalization)
def _layer_norm(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    rms = bool(getattr(m, "rms_scaling", False))
    if rms and gen < 3:
        raise ExportError(f"{layer_label(m)}: rms_scaling=True does not exist in tf-keras; save to .keras")
    c: dict[str, Any] = {"axis": _axis(m.axis), "epsilon": float(m.epsilon), "center": bool(m.center),
                         "scale": bool(m.scale)}
    if gen >= 3:
        c["rms_scaling"] = rms
    c.update(beta_initializer=_init(m, "beta_initializer", "Zeros", gen),
             gamma_initializer=_init(m, "gamma_initializer", "Ones", gen),
             beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None)
    return "LayerNormalization", c


def op_config(m: KerasOp) -> dict[str, Any]:
    """A Keras 3 op node's entry (``keras.src.ops``): written back as the file recorded it."""
    module = "keras.src.ops.core" if m.op_name == "Cast" else "keras.src.ops.numpy"
    return {"module": module, "class_name": m.op_name, "config": dict(m.op_config),
            "registered_name": m.op_name}
