"""Keras 3 on one backend against kt, both timed in this one process (a subprocess of run.py).

Keras reads KERAS_BACKEND once, at import, so each backend needs its own process; run.py sets it.
Every pair shares its weights (kt takes the Keras layer's ``get_weights()``) and is checked for
equal outputs before it is timed. Keras on TensorFlow runs under ``tf.function`` (its fast path);
on torch it runs eagerly, as Keras does. Prints one JSON line: a list of timing groups.

    KERAS_BACKEND=torch python benchmarks/ktbench/keras_worker.py --points '[[64, 100, 128]]' \
        --train-points '[[64, 100, 128]]'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent)]  # this checkout's keraslike_torch, then ktbench

# (name, Keras class, Keras/kt keywords, masked): hard_sigmoid here is Keras 3's x/6 + 0.5 on both sides.
CASES = [
    ("LSTM", "LSTM", {}, False),
    ("LSTM hard_sigmoid", "LSTM", {"recurrent_activation": "hard_sigmoid"}, False),
    ("GRU reset_after=False", "GRU", {"reset_after": False}, False),
    ("LSTM mask=holes", "LSTM", {}, True),
]


def _pairs(backend: str, B: int, T: int, U: int, threads: int, train: bool):
    import keras
    import numpy as np
    import torch

    import keraslike_torch as kt
    from ktbench.contenders import Point, holes_mask

    F = U
    x_np = np.random.default_rng(2).standard_normal((B, T, F)).astype("float32")
    mask_t = holes_mask(Point(B, T, U))
    x_t = torch.from_numpy(x_np)
    out: dict[str, Callable[[], object]] = {}
    for name, cls, kw, masked in CASES:
        keras.utils.set_random_seed(0)
        layer = getattr(keras.layers, cls)(U, return_sequences=True, **kw)
        ours = getattr(kt, cls)(U, input_size=F, return_sequences=True, **kw)
        mask_k = None
        if backend == "tensorflow":
            import tensorflow as tf

            xk = tf.constant(x_np)
            mask_k = tf.constant(mask_t.numpy()) if masked else None
            layer(xk, mask=mask_k)
            fwd = tf.function(lambda inp, m, layer=layer: layer(inp, mask=m))

            def grad(inp, m, layer=layer):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(layer(inp, mask=m, training=True))
                return tape.gradient(loss, layer.trainable_weights)

            grad_fn = tf.function(grad)
            want = fwd(xk, mask_k).numpy()

            def k_inf(fwd=fwd, xk=xk, m=mask_k):
                return fwd(xk, m).numpy()

            def k_train(g=grad_fn, xk=xk, m=mask_k):
                return [v.numpy() for v in g(xk, m)]
        else:
            mask_k = mask_t if masked else None
            with torch.no_grad():
                want = layer(x_t, mask=mask_k).cpu().numpy()
            variables = [v.value for v in layer.trainable_weights]

            def k_inf(layer=layer, m=mask_k):
                with torch.no_grad():
                    return layer(x_t, mask=m)

            def k_train(layer=layer, m=mask_k, variables=variables):
                for v in variables:
                    v.grad = None
                layer(x_t, mask=m, training=True).sum().backward()

        ours.set_keras_weights(layer.get_weights())
        m_ours = mask_t if masked else None
        with torch.no_grad():
            got = ours(x_t, mask=m_ours).numpy()
        if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{name}: kt differs from Keras 3/{backend} by {np.abs(got - want).max():.3g}")
        params = list(ours.parameters())

        def o_inf(ours=ours, m=m_ours):
            with torch.no_grad():
                return ours(x_t, mask=m)

        def o_train(ours=ours, m=m_ours, params=params):
            for q in params:
                q.grad = None
            ours(x_t, mask=m).sum().backward()

        out[f"Keras 3/{backend} {name}"] = k_train if train else k_inf
        out[f"kt {name}"] = o_train if train else o_inf
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", required=True, help="JSON list of [B, T, U] for inference")
    ap.add_argument("--train-points", default="[]", help="JSON list of [B, T, U] for a training step")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--train-rounds", type=int, default=3)
    ap.add_argument("--block", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    import torch

    torch.set_num_threads(args.threads)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from ktbench.timing import alternating

    groups = []
    work = [(p, "inference", args.rounds) for p in json.loads(args.points)]
    work += [(p, "training", args.train_rounds) for p in json.loads(args.train_points)]
    for (B, T, U), pass_, rounds in work:
        fns = _pairs(backend, B, T, U, args.threads, pass_ == "training")
        names = list(fns)
        for i in range(0, len(names), 2):  # each Keras/kt pair in its own alternating blocks
            pair = {n: fns[n] for n in names[i:i + 2]}
            groups.append({"source": f"keras/{backend}", "point": {"B": B, "T": T, "U": U}, "pass": pass_,
                           "times": alternating(pair, rounds, args.block, warmup=1)})
        print(f"keras/{backend} B={B} T={T} U={U} {pass_} done", file=sys.stderr, flush=True)
    print(json.dumps(groups))


if __name__ == "__main__":
    main()
