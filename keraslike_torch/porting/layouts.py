"""File weight layouts -> the Keras 2/3 ``get_weights()`` layout of the target layer.

Files hold weights in the layout of the Keras version and layer class that wrote them:

* Keras 1 LSTM: 12 arrays, gates i, c, f, o (W, U, b each); Keras 1 GRU: 9 arrays, gates z, r, h;
* CuDNNLSTM: bias (8u,) = input half + recurrent half; CuDNNGRU: bias (6u,) -> (2, 3u); their
  input kernels in cuDNN's raw layout (per gate ``k.T.reshape(k.shape, order="F")``) and
  recurrent kernels transposed per gate (what tf-keras's ``_convert_rnn_weights`` undoes);
* Keras 1 Conv1D kernels (filter_length, 1, input_dim, filters) or Theano's transposed order;
* legacy HDF5 groups of nested models list trainable weights before non-trainable ones.

:func:`to_keras_layout` turns such arrays into what the target module's ``set_keras_weights``
takes, recursing into Bidirectional, TimeDistributed and nested models. This is the only place
that knows file layouts; the Keras -> torch conversion is the modules' own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from ..recurrent import GRU, LSTM, RNN, Bidirectional

__all__ = [
    "count_params",
    "to_keras_layout", "cudnn_to_keras", "keras1_rnn_to_keras2", "keras_weight_count",
    "persistent_float_buffers", "WeightLayoutError",
]


class WeightLayoutError(ValueError):
    """Arrays from a file that fit no known layout of the target layer."""


def _per_gate(kernel: np.ndarray, n_gates: int, fn: Any) -> np.ndarray:
    return np.hstack([fn(k) for k in np.hsplit(kernel, n_gates)])


def cudnn_to_keras(arrays: Sequence[np.ndarray], kind: str) -> list[np.ndarray]:
    """CuDNNLSTM / CuDNNGRU arrays -> LSTM / GRU(reset_after=True) arrays (tf-keras's conversion)."""
    n_gates = 4 if kind == "LSTM" else 3
    kernel, recurrent, bias = arrays
    kernel = _per_gate(kernel, n_gates, lambda k: k.T.reshape(k.shape, order="F"))
    recurrent = _per_gate(recurrent, n_gates, lambda k: k.T)
    if kind == "LSTM":
        bias = np.sum(np.split(bias, 2, axis=0), axis=0)
    else:
        bias = np.asarray(bias).reshape((2, -1))
    return [kernel, recurrent, bias]


def keras1_rnn_to_keras2(arrays: Sequence[np.ndarray], kind: str) -> list[np.ndarray]:
    """Keras 1 per-gate LSTM (12 arrays: i, c, f, o) or GRU (9 arrays: z, r, h) -> 3 arrays."""
    a = list(arrays)
    if kind == "LSTM":
        order = [0, 6, 3, 9]  # i, f, c, o
        return [np.concatenate([a[k + j] for k in order], axis=-1) for j in range(3)]
    order = [0, 3, 6]
    return [np.concatenate([a[k + j] for k in order], axis=-1) for j in range(3)]


def _rnn(module: RNN, arrays: list[np.ndarray], generation: int, where: str) -> list[np.ndarray]:
    kind = "LSTM" if isinstance(module, LSTM) else "GRU" if isinstance(module, GRU) else "SimpleRNN"
    if kind == "LSTM" and len(arrays) == 12:
        arrays = keras1_rnn_to_keras2(arrays, "LSTM")
    elif kind == "GRU" and len(arrays) == 9:
        arrays = keras1_rnn_to_keras2(arrays, "GRU")
    if kind in ("LSTM", "GRU") and len(arrays) == 3 and arrays[1].ndim == 2:
        units, n_gates = arrays[1].shape[0], (4 if kind == "LSTM" else 3)
        if arrays[2].shape == (2 * n_gates * units,):  # cuDNN bias: input half + recurrent half
            if kind == "GRU" and not module.cell.reset_after:  # type: ignore[attr-defined]
                raise WeightLayoutError(
                    f"{where}: CuDNNGRU weights cannot go into a GRU with reset_after=False"
                )
            arrays = cudnn_to_keras(arrays, kind)
        elif kind == "GRU" and module.cell.reset_after and arrays[2].shape == (n_gates * units,):  # type: ignore[attr-defined]
            raise WeightLayoutError(
                f"{where}: the file has GRU(reset_after=False) weights (bias {arrays[2].shape}) but "
                "the layer has reset_after=True"
            )
    return arrays


def _legacy_nested(module: Any, arrays: list[np.ndarray], generation: int, where: str) -> list[np.ndarray]:
    """A nested model's legacy group: trainable weights of all sublayers, then non-trainable."""
    layers = [m for m in module.weighted_layers()]
    flags = [list(m_flags) for m_flags in (_trainable_flags(m) for m in layers)]
    n_train = sum(sum(f) for f in flags)
    if len(arrays) != sum(len(f) for f in flags):
        raise WeightLayoutError(
            f"{where}: nested model expects {sum(len(f) for f in flags)} arrays, file has {len(arrays)}"
        )
    train, frozen = arrays[:n_train], arrays[n_train:]
    out = []
    for m, f in zip(layers, flags):
        mine = []
        for is_trainable in f:
            mine.append(train.pop(0) if is_trainable else frozen.pop(0))
        out.extend(to_keras_layout(m, mine, generation, where))
    return out


def _trainable_flags(module: Any) -> list[bool]:
    """For each of the module's Keras weights, whether Keras counts it trainable; works for
    layers not sized yet (one weight per parameter, then one per persistent float buffer)."""
    fn = getattr(module, "keras_weight_trainable", None)
    if callable(fn):
        return list(fn())
    if isinstance(module, Bidirectional):
        return _trainable_flags(module.forward_layer) + _trainable_flags(module.backward_layer)
    if isinstance(module, RNN):
        return [True] * (3 if module.cell.use_bias else 2)
    inner = getattr(module, "layer", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "TimeDistributed":
        return _trainable_flags(inner)
    return [True] * sum(1 for _ in module.parameters()) + [False] * len(persistent_float_buffers(module))


def persistent_float_buffers(module: nn.Module) -> list[Any]:
    """Saved floating-point buffers (BatchNormalization's moving statistics): Keras weights."""
    return [b for mod in module.modules() for n, b in mod.named_buffers(recurse=False)
            if b is not None and b.is_floating_point() and n not in mod._non_persistent_buffers_set]


def count_params(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts as Keras reports them. Modules may define
    ``keras_param_counts()``; otherwise trainable parameters are those with ``requires_grad`` and
    non-trainable ones are frozen parameters plus persistent floating-point buffers (BatchNorm's
    moving statistics, which Keras counts as weights)."""
    fn = getattr(module, "keras_param_counts", None)
    if callable(fn):
        return fn()  # type: ignore[no-any-return]
    trainable = non_trainable = 0
    for p in module.parameters():
        if isinstance(p, nn.UninitializedParameter):
            continue
        if p.requires_grad:
            trainable += p.numel()
        else:
            non_trainable += p.numel()
    non_trainable += sum(b.numel() for b in persistent_float_buffers(module))
    return trainable, non_trainable


def keras_weight_count(module: Any) -> int:
    """How many arrays the module's ``set_keras_weights`` takes (also before it is sized)."""
    return len(_trainable_flags(module))


def _conv1d_keras1(module: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Keras 1 Conv1D kernels: (filter_length, 1, input_dim, filters), or the Theano order
    (filters, input_dim, filter_length, 1); Keras 2 drops the singleton axis (as tf-keras does)."""
    w = arrays[0]
    if w.ndim != 4:
        return arrays
    if w.shape[1] != 1 and w.shape[3] == 1:
        w = np.transpose(w, (2, 3, 1, 0))
    return [w[:, 0, :, :], *arrays[1:]]


def to_keras_layout(module: nn.Module, arrays: Sequence[np.ndarray], generation: int = 2,
                    where: str = "layer") -> list[np.ndarray]:
    """Arrays of one layer as a file holds them -> ``module.set_keras_weights`` input.

    ``generation`` is the Keras generation that wrote the file (1, 2 or 3); ``where`` names the
    layer in error messages.
    """
    arrays = [np.asarray(a) for a in arrays]
    if isinstance(module, Bidirectional):
        n = keras_weight_count(module.forward_layer)
        return (to_keras_layout(module.forward_layer, arrays[:n], generation, where + " (forward)")
                + to_keras_layout(module.backward_layer, arrays[n:], generation, where + " (backward)"))
    if isinstance(module, RNN):
        return _rnn(module, arrays, generation, where)
    inner = getattr(module, "layer", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "TimeDistributed":
        return to_keras_layout(inner, arrays, generation, where)
    if hasattr(module, "weighted_layers"):
        return _legacy_nested(module, list(arrays), generation, where)
    if generation == 1 and getattr(module, "keras_class", "") == "Conv1D":
        return _conv1d_keras1(module, arrays)
    return arrays
