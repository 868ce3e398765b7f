"""Type and size checks of Keras layer config values, run by ``convert_layer`` before any converter.

* booleans are JSON true/false or the ints 0/1 real Keras files contain (``"false"`` is refused:
  Python's ``bool("false")`` is True, which would load silently wrong);
* sizes (units, filters, input_dim, output_dim, kernel_size, strides, ...) are positive ints;
* rates (dropout, recurrent_dropout, rate) are numbers in [0, 1];
* ``null`` for a bool, size or rate means the default (the key is dropped);
* the parameters a layer's config asks for, summed over a load, must fit the file's size
  (``Embedding(input_dim=2e8)`` in a 24 KB file is refused before anything is allocated).

Errors are :class:`InvalidConfigError` (both a KerasFileError and an UnsupportedLayerError)
naming the layer and the key.
"""

from __future__ import annotations

import math
from typing import Any

from .guards import KerasFileError

__all__ = ["UnsupportedLayerError", "InvalidConfigError", "check_layer_config", "estimated_params", "param_budget",
           "MAX_PARAMS_WITHOUT_FILE"]

class UnsupportedLayerError(ValueError):
    """A Keras layer (or option) this project cannot convert."""


class InvalidConfigError(KerasFileError, UnsupportedLayerError):
    """A layer config value of the wrong type or out of range (a broken file, and an option that
    cannot be converted)."""


BOOL_KEYS = frozenset({
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "time_major", "use_bias",
    "unit_forget_bias", "reset_after", "zero_output_for_mask", "mask_zero", "center", "scale", "bias",
    "sparse",
})
SIZE_KEYS = frozenset({"units", "output_dim", "input_dim", "filters", "n", "groups", "depth_multiplier", "num_heads",
                       "key_dim", "value_dim"})
TUPLE_SIZE_KEYS = frozenset({"kernel_size", "strides", "dilation_rate", "pool_size", "filter_length",
                             "subsample_length", "pool_length", "stride"})
RATE_KEYS = frozenset({"dropout", "recurrent_dropout", "rate", "dropout_W", "dropout_U"})
MAX_SIZE = 2**31  # a single dimension beyond this is corruption
MAX_PARAMS_WITHOUT_FILE = 2**32  # configs read without a file (model_from_json, from_keras): 16 GiB float32
MIN_PARAM_BUDGET = 2**24  # any file may ask for 16M parameters (64 MB)

_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "LSTMV1": 4, "GRUV1": 3, "UnifiedLSTM": 4, "UnifiedGRU": 3,
          "CuDNNLSTM": 4, "CuDNNGRU": 3, "LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1}


def _label(class_name: str, config: dict) -> str:
    return f"{class_name} layer {str(config.get('name', '?'))!r}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())


def check_layer_config(class_name: str, config: dict) -> dict:
    """A copy of ``config`` with bools normalized (0/1 -> False/True) and null bools, sizes and rates
    dropped (the default); a KerasFileError naming the layer and key for a value of the wrong type."""
    if not isinstance(config, dict):
        raise InvalidConfigError(f"{class_name} layer: config is a {type(config).__name__}, expected an object")
    out = dict(config)
    for key, v in config.items():
        if not isinstance(key, str):
            raise InvalidConfigError(f"{_label(class_name, config)}: config key {key!r} is not a string")
        if key in BOOL_KEYS | SIZE_KEYS | RATE_KEYS and v is None:
            del out[key]
        elif key in BOOL_KEYS:
            if isinstance(v, bool):
                continue
            if isinstance(v, int) and v in (0, 1):
                out[key] = bool(v)
                continue
            raise InvalidConfigError(f"{_label(class_name, config)}: {key!r} must be true or false, got {v!r}")
        elif key in SIZE_KEYS:
            if not _is_int(v) or not 0 < v <= MAX_SIZE:
                if key == "input_dim" and _is_int(v) and v == 0 and class_name != "Embedding":
                    continue  # Keras 1 recurrent/dense configs write input_dim 0 for "unknown"
                raise InvalidConfigError(f"{_label(class_name, config)}: {key!r} must be a positive int, got {v!r}")
            out[key] = int(v)
        elif key in RATE_KEYS:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise InvalidConfigError(f"{_label(class_name, config)}: {key!r} must be a number in [0, 1], got {v!r}")
        elif key in TUPLE_SIZE_KEYS and v is not None:
            items = v if isinstance(v, (list, tuple)) else [v]
            if not items or len(items) > 3 or not all(_is_int(d) and 0 < d <= MAX_SIZE for d in items):
                raise InvalidConfigError(
                    f"{_label(class_name, config)}: {key!r} must be a positive int or a list of up to 3, got {v!r}"
                )
    return out


def _input_size(config: dict) -> int:
    build = config.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    candidates: list[Any] = [shape[-1]] if isinstance(shape, list) and shape else []
    candidates += [config.get("input_dim"), config.get("input_size")]
    for v in candidates:
        if _is_int(v) and 0 < v <= MAX_SIZE:
            return int(v)
    return 1


def estimated_params(class_name: str, config: dict) -> int:
    """A lower bound of the parameters the layer's config makes us allocate (0 when unknown)."""
    def size(key: str) -> int:
        v: Any = config.get(key)
        return int(v) if _is_int(v) and v > 0 else 0

    units = size("units") or size("output_dim")
    d = _input_size(config)
    if class_name in _GATES:
        g = _GATES[class_name]
        return g * units * (units + d + 1)
    if class_name == "Embedding":
        return size("input_dim") * size("output_dim")
    if class_name == "Dense":
        return units * (d + 1)
    filters = size("filters")
    kernel = config.get("kernel_size", config.get("filter_length", 1))
    k = max(math.prod(int(x) for x in (kernel if isinstance(kernel, (list, tuple)) else [kernel]) if _is_int(x)), 1)
    depthwise = d * k * (size("depth_multiplier") or 1)
    if class_name.startswith("DepthwiseConv"):
        return depthwise
    if class_name.startswith("SeparableConv"):
        return depthwise + d * (size("depth_multiplier") or 1) * filters
    if class_name.startswith("ConvLSTM"):
        return 4 * filters * k * (d + filters)
    if filters:
        return filters * k * d
    return units


def param_budget(file_bytes: int | None) -> int:
    """Parameters a load may ask for: a weight takes at least 2 bytes in a file (float16), so a
    file of N bytes holds at most N/2; allow N (and at least MIN_PARAM_BUDGET)."""
    if file_bytes is None:
        return MAX_PARAMS_WITHOUT_FILE
    return max(int(file_bytes), MIN_PARAM_BUDGET)
