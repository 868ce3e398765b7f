"""Parity helpers for your own test suites: run a Keras object and a torch module on the same
inputs and fail with a readable report unless they agree.

>>> import keras, keraslike_torch as kt                                   # doctest: +SKIP
>>> layer = keras.layers.LSTM(4, return_sequences=True)                   # doctest: +SKIP
>>> layer.build((None, 5, 3))                                             # doctest: +SKIP
>>> kt.testing.assert_keras_parity(layer, kt.from_keras(layer))           # doctest: +SKIP
ParityReport(2 outputs agree: ...)

TensorFlow/Keras are only imported when these functions run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..porting.live import keras_generation

__all__ = [
    "assert_keras_parity",
    "assert_keras_gradient_parity",
    "compare_outputs",
    "default_tolerances",
    "dropout_masks",
    "ParityReport",
    "OutputDiff",
    "keras_generation",
]

_TOLERANCES = {
    np.dtype("float16"): (1e-2, 1e-3),
    np.dtype("float32"): (1e-5, 1e-6),
    np.dtype("float64"): (1e-12, 1e-13),
}


def default_tolerances(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol)`` used for a dtype: an element passes when
    ``|ours - keras| <= atol + rtol * |keras|``. float32: (1e-5, 1e-6); float64: (1e-12, 1e-13)
    (the absolute floor, a tenth of the relative tolerance, is for values near zero).
    """
    if isinstance(dtype, torch.dtype):
        dtype = torch.empty((), dtype=dtype).numpy().dtype
    return _TOLERANCES.get(np.dtype(dtype), (1e-5, 1e-6))


@dataclass
class OutputDiff:
    """How one output differs: name, shapes, largest absolute/relative difference and where."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    worst_index: tuple[int, ...]
    keras_value: float
    torch_value: float
    ok: bool
    note: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        if self.note:
            return f"  {status} {self.name}: {self.note}"
        return (
            f"  {status} {self.name} {self.shape}: max |diff| {self.max_abs:.3e}, max rel {self.max_rel:.3e}"
            f" at {self.worst_index} (keras {self.keras_value:.9g}, torch {self.torch_value:.9g})"
        )


@dataclass
class ParityReport:
    """Result of a comparison; ``str(report)`` is the readable table."""

    diffs: list[OutputDiff] = field(default_factory=list)
    rtol: float = 0.0
    atol: float = 0.0
    what: str = "outputs"

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.diffs)

    @property
    def max_abs(self) -> float:
        return max((d.max_abs for d in self.diffs), default=0.0)

    def __str__(self) -> str:
        head = (
            f"Keras parity of {len(self.diffs)} {self.what} "
            f"({'agree' if self.ok else 'DISAGREE'}; rtol={self.rtol:g}, atol={self.atol:g}):"
        )
        return "\n".join([head, *(d.line() for d in self.diffs)])

    def __repr__(self) -> str:
        state = "agree" if self.ok else "disagree"
        return f"ParityReport({len(self.diffs)} {self.what} {state}: max |diff| {self.max_abs:.3e})"


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _flatten(out: Any) -> list[Any]:
    if isinstance(out, dict):
        return [v for _, v in sorted(out.items())]
    if isinstance(out, (list, tuple)):
        flat: list[Any] = []
        for o in out:
            flat.extend(_flatten(o))
        return flat
    return [out]


def compare_outputs(
    keras_out: Any,
    torch_out: Any,
    rtol: float | None = None,
    atol: float | None = None,
    names: Sequence[str] | None = None,
    what: str = "outputs",
) -> ParityReport:
    """Compare (nested) outputs elementwise; returns a :class:`ParityReport` (does not raise)."""
    ks, ts = _flatten(keras_out), _flatten(torch_out)
    kn = [_to_numpy(k) for k in ks]
    if rtol is None or atol is None:
        r, a = default_tolerances(kn[0].dtype if kn and kn[0].dtype.kind == "f" else np.float32)
        rtol = r if rtol is None else rtol
        atol = a if atol is None else atol
    report = ParityReport(rtol=rtol, atol=atol, what=what)
    if len(ks) != len(ts):
        report.diffs.append(
            OutputDiff(what, (), float("inf"), float("inf"), (), 0.0, 0.0, False,
                       f"Keras gives {len(ks)} {what}, torch gives {len(ts)}")
        )
        return report
    for i, (k, t) in enumerate(zip(kn, ts)):
        name = names[i] if names is not None and i < len(names) else f"{what[:-1] if what.endswith('s') else what}[{i}]"
        if t is None:
            report.diffs.append(OutputDiff(name, k.shape, float("inf"), float("inf"), (), 0.0, 0.0,
                                           False, "torch gives None"))
            continue
        tn = _to_numpy(t)
        if tuple(k.shape) != tuple(tn.shape):
            report.diffs.append(
                OutputDiff(name, tuple(k.shape), float("inf"), float("inf"), (), 0.0, 0.0, False,
                           f"shape differs: Keras {tuple(k.shape)}, torch {tuple(tn.shape)}")
            )
            continue
        if k.size == 0:
            report.diffs.append(OutputDiff(name, tuple(k.shape), 0.0, 0.0, (), 0.0, 0.0, True))
            continue
        k64, t64 = k.astype(np.float64), tn.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(k64 - t64)
            # identical non-finite values (nan and nan, inf and inf) agree; any other pairing fails
            same = (np.isnan(k64) & np.isnan(t64)) | (np.isinf(k64) & (k64 == t64))
            finite = np.isfinite(k64) & np.isfinite(t64)
            diff = np.where(same, 0.0, np.where(finite, diff, np.inf))
            rel = diff / np.maximum(np.abs(np.where(np.isfinite(k64), k64, 0.0)), np.finfo(np.float64).tiny)
            excess = np.where(same, -1.0, diff - (atol + rtol * np.abs(np.where(finite, k64, 0.0))))
        worst = np.unravel_index(int(np.argmax(excess)), k.shape)
        ok = bool((excess <= 0).all())
        report.diffs.append(
            OutputDiff(
                name, tuple(k.shape), float(diff.max()), float(np.where(diff > 0, rel, 0).max()),
                tuple(int(i) for i in worst), float(k64[worst]), float(t64[worst]), ok,
            )
        )
    return report


def _module_dtype(module: nn.Module) -> torch.dtype:
    """The module's float dtype: its first float parameter's, else its first float buffer's
    (weightless layers keep one to carry their dtype)."""
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point() and not isinstance(t, nn.UninitializedParameter):
            return t.dtype
    return torch.get_default_dtype()


def _module_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        if not isinstance(p, nn.UninitializedParameter):
            return p.device
    return torch.device("cpu")


def _keras_input_shape(keras_obj: Any) -> Any:
    for attr in ("input_shape", "batch_shape"):
        try:
            shape = getattr(keras_obj, attr)
        except Exception:
            continue
        if shape is not None:
            return shape
    try:
        return keras_obj._build_shapes_dict.get("sequences_shape")  # Keras 3 RNN layers
    except Exception:
        return None


def _example_inputs(keras_obj: Any, module: nn.Module, batch_size: int, time_steps: int,
                    dtype: np.dtype, rng: np.random.Generator) -> list[np.ndarray]:
    maker = getattr(module, "example_inputs", None)
    if callable(maker):
        made = maker(batch_size=batch_size, time_steps=time_steps, seed=int(rng.integers(2**31)))
        return [_to_numpy(a) for a in made]
    shape = _keras_input_shape(keras_obj)
    shapes = shape if isinstance(shape, list) else [shape]
    if shape is None:
        features = getattr(module, "input_size", None)
        if features is None:
            raise ValueError("cannot infer an input shape: pass inputs=")
        shapes = [(None, None, features)]
    out = []
    for s in shapes:
        s = tuple(s)
        dims = [batch_size if i == 0 and d is None else (time_steps if d is None else int(d)) for i, d in enumerate(s)]
        out.append(rng.standard_normal(dims).astype(dtype))
    return out


def _keras_tensor_fn(keras_obj: Any) -> Any:
    """The converter from numpy to the Keras object's own backend tensors."""
    if keras_generation(keras_obj) == 3:
        import keras

        return keras.ops.convert_to_tensor
    import tensorflow as tf

    return tf.convert_to_tensor


def _call_keras(keras_obj: Any, inputs: list[np.ndarray], mask: Any, initial_state: Any,
                training: bool) -> Any:
    tensor = _keras_tensor_fn(keras_obj)
    kwargs: dict[str, Any] = {}
    if mask is not None:
        kwargs["mask"] = tensor(_to_numpy(mask).astype(bool))
    if initial_state is not None:
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        kwargs["initial_state"] = [tensor(_to_numpy(s)) for s in states]
    xs = [tensor(a) for a in inputs]
    x = xs[0] if len(xs) == 1 else xs
    longest = max((a.shape[1] for a in inputs if np.ndim(a) >= 2), default=0)
    if longest > 64 and _tf_backed(keras_obj):
        # Eager TensorFlow runs recurrent loops step by step in Python (26 s for 1000 steps of a
        # small GRU); a traced function takes about a second.
        import tensorflow as tf

        def call(inp: Any, kw: dict) -> Any:
            return keras_obj(inp, training=training, **kw)

        return tf.function(call, autograph=False)(x, kwargs)
    return keras_obj(x, training=training, **kwargs)


def _tf_backed(keras_obj: Any) -> bool:
    if keras_generation(keras_obj) == 2:
        return True
    import keras

    return bool(keras.backend.backend() == "tensorflow")


def _call_torch(module: nn.Module, inputs: list[np.ndarray], mask: Any, initial_state: Any,
                training: bool) -> Any:
    dtype, device = _module_dtype(module), _module_device(module)

    def conv(a: Any) -> torch.Tensor:
        t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
        return t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device)

    kwargs: dict[str, Any] = {}
    if mask is not None:
        kwargs["mask"] = torch.as_tensor(_to_numpy(mask).astype(bool), device=device)
    if initial_state is not None:
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        kwargs["initial_state"] = [conv(s) for s in states]
    was_training = module.training
    module.train(training)
    try:
        return module(*[conv(a) for a in inputs], **kwargs)
    finally:
        module.train(was_training)


def _prepare(keras_obj: Any, module: nn.Module, inputs: Any, batch_size: int, time_steps: int,
             seed: int) -> list[np.ndarray]:
    dtype = torch.empty((), dtype=_module_dtype(module)).numpy().dtype
    rng = np.random.default_rng(seed)
    if inputs is None:
        return _example_inputs(keras_obj, module, batch_size, time_steps, dtype, rng)
    if isinstance(inputs, (list, tuple)):
        return [_to_numpy(a) for a in inputs]
    return [_to_numpy(inputs)]


def assert_keras_parity(
    keras_obj: Any,
    module: nn.Module,
    inputs: Any = None,
    *,
    mask: Any = None,
    initial_state: Any = None,
    training: bool = False,
    batch_size: int = 2,
    time_steps: int = 5,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
) -> ParityReport:
    """Run ``keras_obj`` (a Keras 3 or tf-keras layer or model) and ``module`` on the same inputs,
    mask and initial state; raise ``AssertionError`` with a per-output report unless every output
    agrees within ``rtol``/``atol`` (defaults by dtype, see :func:`default_tolerances`).

    ``inputs``: an array/tensor or a list of them (several model inputs); when None, random
    normal inputs of shape (batch_size, time_steps, features) are generated from the Keras
    object's input shape (or the module's ``example_inputs``). Returns the report on success.
    """
    arrays = _prepare(keras_obj, module, inputs, batch_size, time_steps, seed)
    keras_out = _call_keras(keras_obj, arrays, mask, initial_state, training)
    with torch.no_grad():
        torch_out = _call_torch(module, arrays, mask, initial_state, training)
    report = compare_outputs(keras_out, torch_out, rtol, atol)
    if not report.ok:
        raise AssertionError(str(report))
    return report


def _keras_layout_grads(module: nn.Module) -> list[torch.Tensor | None]:
    fn = getattr(module, "keras_gradients", None)
    if callable(fn):
        return list(fn())
    cell = getattr(module, "cell", None)
    if cell is not None and hasattr(cell, "keras_gradients"):
        return list(cell.keras_gradients())
    raise TypeError(f"{type(module).__name__} cannot map its gradients to Keras weights")


def assert_keras_gradient_parity(
    keras_obj: Any,
    module: nn.Module,
    inputs: Any = None,
    *,
    mask: Any = None,
    initial_state: Any = None,
    batch_size: int = 2,
    time_steps: int = 5,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
) -> ParityReport:
    """Compare gradients: TensorFlow ``GradientTape`` on ``keras_obj`` versus torch autograd on
    ``module``, for the same loss ``sum_k sum(output_k * w_k)`` with fixed random ``w_k``.
    Compares d loss / d inputs, d loss / d initial states and d loss / d each trainable weight
    (torch gradients mapped to Keras's weight layout). Raises ``AssertionError`` with a report.
    """
    import tensorflow as tf

    arrays = _prepare(keras_obj, module, inputs, batch_size, time_steps, seed)
    dtype, device = _module_dtype(module), _module_device(module)
    rng = np.random.default_rng(seed + 1)

    tf_inputs = [tf.Variable(a) for a in arrays]
    states = None
    if initial_state is not None:
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        states = [_to_numpy(s) for s in states]
    tf_states = [tf.Variable(s) for s in states] if states is not None else None
    weights = list(keras_obj.weights)
    trainable_ids = {id(v) for v in keras_obj.trainable_weights}
    with tf.GradientTape() as tape:
        kwargs: dict[str, Any] = {}
        if mask is not None:
            kwargs["mask"] = _to_numpy(mask).astype(bool)
        if tf_states is not None:
            kwargs["initial_state"] = list(tf_states)
        x = tf_inputs[0] if len(tf_inputs) == 1 else list(tf_inputs)
        k_out = _flatten(keras_obj(x, training=False, **kwargs))
        loss_w = [rng.standard_normal(tuple(o.shape)).astype(arrays[0].dtype) for o in k_out]
        loss = tf.add_n([tf.reduce_sum(o * w) for o, w in zip(k_out, loss_w)])
    train_vars = [v for v in weights if id(v) in trainable_ids]
    sources = tf_inputs + (tf_states or []) + train_vars
    k_grads = tape.gradient(loss, sources)

    t_inputs = [torch.tensor(a, device=device, dtype=dtype, requires_grad=True) for a in arrays]
    t_states = (
        [torch.tensor(s, device=device, dtype=dtype, requires_grad=True) for s in states]
        if states is not None else None
    )
    module.zero_grad(set_to_none=True)
    was_training = module.training
    module.eval()
    try:
        kw: dict[str, Any] = {}
        if mask is not None:
            kw["mask"] = torch.as_tensor(_to_numpy(mask).astype(bool), device=device)
        if t_states is not None:
            kw["initial_state"] = t_states
        t_out = _flatten(module(*t_inputs, **kw))
        t_loss = sum((o * torch.as_tensor(w, device=device, dtype=dtype)).sum() for o, w in zip(t_out, loss_w))
        t_loss.backward()  # type: ignore[union-attr]
    finally:
        module.train(was_training)
    ours = _keras_layout_grads(module)
    trainable_pos = [i for i, v in enumerate(weights) if id(v) in trainable_ids]
    t_grads: list[Any] = [t.grad for t in t_inputs] + [s.grad for s in (t_states or [])]
    t_grads += [ours[i] if i < len(ours) else None for i in trainable_pos]
    names = [f"d/d input[{i}]" for i in range(len(t_inputs))]
    names += [f"d/d initial_state[{i}]" for i in range(len(t_states or []))]
    names += [f"d/d {getattr(v, 'path', None) or v.name}" for v in train_vars]
    k_grads = [g if g is not None else np.zeros(s.shape, dtype=arrays[0].dtype)
               for g, s in zip(k_grads, sources)]
    t_grads = [g if g is not None else torch.zeros(tuple(s.shape), dtype=dtype)
               for g, s in zip(t_grads, sources)]
    report = compare_outputs(k_grads, t_grads, rtol, atol, names=names, what="gradients")
    if not report.ok:
        raise AssertionError(str(report))
    return report


@contextlib.contextmanager
def dropout_masks(module: nn.Module, inputs: Any = None, recurrent: Any = None) -> Iterator[None]:
    """Make ``module`` (a kt recurrent layer) use the given dropout masks in training calls, in
    Keras's layout: ``inputs`` is one (B, d) array or a list of one per Keras gate; ``recurrent``
    a list of one (B, units) array per Keras gate. Lets tests reproduce a Keras cell whose
    ``_dropout_mask`` / ``_recurrent_dropout_mask`` were set to the same arrays."""
    module._forced_dropout_masks = (inputs, recurrent)  # type: ignore[assignment]
    try:
        yield
    finally:
        module._forced_dropout_masks = None  # type: ignore[assignment]
