"""onnxruntime's LSTM operator built with onnx.helper from a Keras LSTM's weights.

Keras stores kernel (F, 4U), recurrent_kernel (U, 4U) and one bias (4U) with gate blocks
[i | f | c | o], used as ``x @ K``. ONNX's LSTM takes W (1, 4U, F), R (1, 4U, U) and
B (1, 8U) = [Wb | Rb] with gate blocks [i | o | f | c], used as ``x @ W.T``.

The gate activation goes through the ``activations`` attribute (f, g, h = gate, cell, output).
ONNX HardSigmoid is ``clip(alpha * x + beta, 0, 1)``: Keras 2 / tf-keras ``hard_sigmoid`` is
alpha=0.2, beta=0.5 (ONNX's defaults); Keras 3 ``hard_sigmoid`` is alpha=1/6, beta=0.5.

>>> import numpy as np
>>> k, r, b = np.ones((3, 8), "f4"), np.ones((2, 8), "f4"), np.zeros(8, "f4")
>>> m = lstm_model(k, r, b, recurrent_activation="hard_sigmoid_keras2")
>>> [n.op_type for n in m.graph.node], run(m, np.zeros((5, 1, 3), "f4")).shape
(['LSTM', 'Squeeze'], (5, 1, 2))
"""

from __future__ import annotations

import numpy as np

__all__ = ["GATE_ACTIVATIONS", "CELL_ACTIVATIONS", "lstm_model", "session", "run"]

# Keras activation name -> (ONNX activation, alpha, beta); alpha/beta None where the op has none.
GATE_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "sigmoid": ("Sigmoid", None, None),
    "hard_sigmoid_keras2": ("HardSigmoid", 0.2, 0.5),  # Keras 1/2, tf-keras: clip(0.2x + 0.5)
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: clip(x/6 + 0.5)
}
CELL_ACTIVATIONS: dict[str, str] = {"tanh": "Tanh", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus"}

_KERAS_TO_ONNX_GATES = (0, 3, 1, 2)  # ONNX [i, o, f, c] taken from Keras [i, f, c, o]


def _reorder(a: np.ndarray, units: int) -> np.ndarray:
    """Reorder the gate blocks on the last axis from Keras [i f c o] to ONNX [i o f c]."""
    blocks = [a[..., g * units:(g + 1) * units] for g in _KERAS_TO_ONNX_GATES]
    return np.concatenate(blocks, axis=-1)


def lstm_model(kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray | None,
               recurrent_activation: str = "sigmoid", activation: str = "tanh", opset: int = 17):
    """An ONNX model: input ``x`` time-major (T, B, F) float32 -> ``y`` (T, B, U), the Keras
    LSTM's return_sequences output (time-major). Weights are Keras's ``get_weights()`` arrays."""
    if recurrent_activation not in GATE_ACTIVATIONS:
        raise ValueError(f"recurrent_activation {recurrent_activation!r}: one of {sorted(GATE_ACTIVATIONS)}")
    if activation not in CELL_ACTIVATIONS:
        raise ValueError(f"activation {activation!r}: one of {sorted(CELL_ACTIVATIONS)}")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features, four_u = kernel.shape
    units = four_u // 4
    if recurrent_kernel.shape != (units, four_u):
        raise ValueError(f"recurrent_kernel shape {recurrent_kernel.shape}, expected {(units, four_u)}")
    w = _reorder(kernel.astype(np.float32), units).T[None]  # (1, 4U, F)
    r = _reorder(recurrent_kernel.astype(np.float32), units).T[None]  # (1, 4U, U)
    wb = np.zeros(four_u, np.float32) if bias is None else _reorder(bias.astype(np.float32), units)
    b = np.concatenate([wb, np.zeros(four_u, np.float32)])[None]  # (1, 8U): Keras has one bias
    gate, alpha, beta = GATE_ACTIVATIONS[recurrent_activation]
    cell = CELL_ACTIVATIONS[activation]
    attrs: dict = {"hidden_size": units, "direction": "forward", "activations": [gate, cell, cell]}
    # alpha/beta are consumed in the order of the activations that take them; the gate comes first.
    if alpha is not None:
        attrs["activation_alpha"] = [alpha]
        attrs["activation_beta"] = [beta]
    lstm = helper.make_node("LSTM", ["x", "W", "R", "B"], ["y4"], **attrs)
    squeeze = helper.make_node("Squeeze", ["y4", "axis1"], ["y"])  # (T, 1, B, U) -> (T, B, U)
    graph = helper.make_graph(
        [lstm, squeeze], "keras_lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", "B", units])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
                     numpy_helper.from_array(b, "B"), numpy_helper.from_array(np.array([1], np.int64), "axis1")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def session(model, threads: int = 1):
    """An onnxruntime CPU session for ``model`` with ``threads`` intra-op threads (sequential)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run(model_or_session, x_tbf: np.ndarray, threads: int = 1) -> np.ndarray:
    """Run on a time-major float32 input (T, B, F); returns (T, B, U)."""
    sess = model_or_session if hasattr(model_or_session, "run") else session(model_or_session, threads)
    return sess.run(["y"], {"x": np.ascontiguousarray(x_tbf, dtype=np.float32)})[0]
