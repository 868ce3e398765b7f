"""kt.ConvLSTM2D against Keras 3's ConvLSTM2D on TensorFlow, same weights, one process, CPU:
inference (no grad) and a training step (forward + backward of sum(output), gradients of every
weight), interleaved rounds, medians and ratios. Both sides on one thread (torch and TensorFlow
intra/inter-op), so that the shared machine's load hits them alike; Keras runs inside a
``tf.function`` (as ``predict``/``fit`` do).

    python benchmarks/bench_conv_lstm.py           # prints the table
    python benchmarks/bench_conv_lstm.py --write   # and writes its RESULTS.md section
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _results import write_section  # noqa: E402

B, T, H, W, C, FILTERS, K = 8, 10, 32, 32, 8, 16, 3


def _timer(fn, rounds: int) -> list[float]:
    for _ in range(2):
        fn()
    return [_once(fn) for _ in range(rounds)]


def _once(fn) -> float:
    s = time.perf_counter()
    fn()
    return time.perf_counter() - s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(1)
    import keras

    import keraslike_torch as kt

    rng = np.random.default_rng(0)
    layer = keras.layers.ConvLSTM2D(FILTERS, K, padding="same", return_sequences=True)
    layer.build((None, T, H, W, C))
    layer.set_weights([(rng.standard_normal(w.shape) * 0.1).astype("float32") for w in layer.get_weights()])
    ours = kt.from_keras(layer)
    x = rng.standard_normal((B, T, H, W, C)).astype("float32")
    xt, xk = torch.from_numpy(x), tf.constant(x)

    @tf.function(autograph=False)
    def k_forward(v):
        return layer(v)

    @tf.function(autograph=False)
    def k_train(v):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(v, training=True))
        return tape.gradient(loss, layer.trainable_weights)

    def t_forward():
        with torch.no_grad():
            ours(xt)

    def t_train():
        ours.zero_grad(set_to_none=True)
        ours(xt).sum().backward()

    np.testing.assert_allclose(t_forward_out := ours(xt).detach().numpy(), np.asarray(k_forward(xk)),
                               rtol=1e-4, atol=1e-4)
    del t_forward_out
    cases = {"inference": (t_forward, lambda: k_forward(xk).numpy()),
             "training step": (t_train, lambda: [g.numpy() for g in k_train(xk)])}
    rows = []
    for name, (ours_fn, keras_fn) in cases.items():
        a, b = [], []
        for _ in range(args.rounds):  # interleaved: one of each per round
            a += _timer(ours_fn, 1)
            b += _timer(keras_fn, 1)
        ta, tb = statistics.median(a) * 1e3, statistics.median(b) * 1e3
        rows.append((name, ta, tb, tb / ta))
    lines = [
        "## ConvLSTM2D: `python benchmarks/bench_conv_lstm.py`",
        "",
        f"Shape: batch {B}, {T} steps, {H}x{W}x{C} -> {FILTERS} filters, {K}x{K}, padding='same', "
        "return_sequences, float32, CPU, one thread each (torch; TensorFlow intra/inter-op); Keras 3 "
        "on TensorFlow inside a tf.function.  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; "
        f"Python {platform.python_version()}; torch {torch.__version__}, tensorflow {tf.__version__}, "
        f"keras {keras.__version__}.  ",
        f"Date: {datetime.date.today()}; {args.rounds} interleaved rounds, medians. Keras / ours above 1: "
        "kt is faster. kt computes the input convolution of all steps in one call, then one recurrent "
        "convolution per step (channels-last memory for oneDNN), gradients by autograd through the loop.",
        "",
        "| case | kt.ConvLSTM2D ms | keras3/tf ConvLSTM2D ms | Keras / ours |",
        "|---|---:|---:|---:|",
        *[f"| {n} | {a:.1f} | {b:.1f} | {r:.2f}x |" for n, a, b, r in rows],
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("bench_conv_lstm", text)


if __name__ == "__main__":
    main()
