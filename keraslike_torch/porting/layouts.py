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

Writing runs it backwards (:mod:`keraslike_torch.porting.export`): :func:`from_keras_layout`
(``get_keras_weights()`` -> a file's arrays), :func:`keras3_var_groups` (where a Keras 3 weights
file puts each array) and :func:`legacy_weight_names` (tf-keras ``weight_names``).
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
    "persistent_float_buffers", "WeightLayoutError", "from_keras_layout", "keras3_var_groups",
    "legacy_weight_names",
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
        return [True] * len(module.cell.keras_weight_shapes(1))
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
        keras1 = {LSTM: 12, GRU: 9}.get(type(module.forward_layer))  # Keras 1's per-gate arrays
        if keras1 and len(arrays) == 2 * keras1 and keras_weight_count(module.backward_layer) == n:
            n = keras1
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


# ---- backwards: Keras get_weights() layout -> what a file of the generation holds -------------


def from_keras_layout(module: nn.Module, arrays: Sequence[np.ndarray], generation: int = 2) -> list[np.ndarray]:
    """Inverse of :func:`to_keras_layout` for the files this project writes (Keras 2 / 3
    layouts): a layer's ``get_keras_weights()`` -> its arrays as a file group holds them. Only a
    legacy group of a nested model differs: trainable weights of all sublayers first."""
    arrays = [np.asarray(a) for a in arrays]
    if generation >= 3 or not hasattr(module, "weighted_layers"):
        return arrays
    flags = _trainable_flags(module)
    return [a for a, f in zip(arrays, flags) if f] + [a for a, f in zip(arrays, flags) if not f]


def keras3_var_groups(module: nn.Module, arrays: Sequence[np.ndarray]) -> list[tuple[str, list[np.ndarray]]]:
    """Where a Keras 3 weights file keeps a (non-model) layer's arrays, relative to the layer's
    group: ``cell/vars`` for recurrent layers, ``forward_layer/...`` and ``backward_layer/...`` for
    Bidirectional, ``layer/...`` for TimeDistributed, else ``vars``; every object also has a
    ``vars`` group of its own (empty for wrappers). The inverse of the loader's group walk."""
    arrays = list(arrays)
    if isinstance(module, Bidirectional):
        n = keras_weight_count(module.forward_layer)
        return ([(f"forward_layer/{p}", a) for p, a in keras3_var_groups(module.forward_layer, arrays[:n])]
                + [(f"backward_layer/{p}", a) for p, a in keras3_var_groups(module.backward_layer, arrays[n:])]
                + [("vars", [])])
    if isinstance(module, RNN):
        return [("cell/vars", arrays), ("vars", [])]
    inner = getattr(module, "layer", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "TimeDistributed":
        return [(f"layer/{p}", a) for p, a in keras3_var_groups(inner, arrays)] + [("vars", [])]
    return [("vars", arrays)]


_CELL_NAMES = {"LSTM": "lstm_cell", "GRU": "gru_cell", "SimpleRNN": "simple_rnn_cell"}


def _variable_names(module: Any) -> list[str]:
    """A leaf layer's variable names in ``get_weights()`` order."""
    if isinstance(module, RNN):
        return ["kernel", "recurrent_kernel", "bias"][: 3 if module.cell.use_bias else 2]
    kind = getattr(module, "keras_class", "")
    if kind == "Embedding":
        return ["embeddings"]
    if kind == "BatchNormalization":
        affine = [n for n, on in (("gamma", module.scale), ("beta", module.center)) if on]
        return affine + ["moving_mean", "moving_variance"]
    if kind == "LayerNormalization":
        return [n for n, on in (("gamma", module.scale), ("beta", module.center)) if on]
    if kind == "Dense" or kind.startswith("Conv"):
        return ["kernel", "bias"] if module.use_bias else ["kernel"]
    if kind.startswith(("DepthwiseConv", "SeparableConv")):
        kernels = ["depthwise_kernel"] + (["pointwise_kernel"] if kind.startswith("Separable") else [])
        return kernels + (["bias"] if module.use_bias else [])
    if kind == "PReLU":
        return ["alpha"]
    return [f"weight_{i}" for i in range(keras_weight_count(module))]


def legacy_weight_names(module: nn.Module, layer_name: str) -> list[str]:
    """The ``weight_names`` tf-keras 2.x writes for a layer (``lstm/lstm_cell/kernel:0``,
    ``bi/forward_lstm/lstm_cell/bias:0``, ``td/kernel:0``; a nested model's layers by their own
    names, trainable weights first)."""
    if isinstance(module, Bidirectional):
        out: list[str] = []
        for prefix, layer in (("forward", module.forward_layer), ("backward", module.backward_layer)):
            base = str(getattr(layer, "name", None) or "layer")
            for word in ("forward_", "backward_"):
                base = base[len(word):] if base.startswith(word) else base
            out += legacy_weight_names(layer, f"{layer_name}/{prefix}_{base}")
        return out
    if isinstance(module, RNN):
        cell = _CELL_NAMES.get(module.cell.keras_class)  # a ConvLSTM's variables sit on the layer
        return [f"{layer_name}/{cell}/{n}:0" if cell else f"{layer_name}/{n}:0" for n in _variable_names(module)]
    inner = getattr(module, "layer", None)
    if isinstance(inner, nn.Module) and type(module).__name__ == "TimeDistributed":
        return [f"{layer_name}/{n}:0" for n in _variable_names(inner)]
    if hasattr(module, "weighted_layers"):
        names: list[str] = []
        flags: list[bool] = []
        for sub_name, sub in module.keras_layers():  # type: ignore[operator]
            if sub in module.weighted_layers():  # type: ignore[operator]
                names += legacy_weight_names(sub, sub_name)
                flags += _trainable_flags(sub)
        return [n for n, f in zip(names, flags) if f] + [n for n, f in zip(names, flags) if not f]
    return [f"{layer_name}/{n}:0" for n in _variable_names(module)]
