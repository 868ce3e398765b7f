"""bfloat16 autocast against float32 on the CPU, for the sequence runner (and the fused LSTM).

    python benchmarks/bench_autocast.py [--rounds N] [--threads N]

B=64, T=100, F=U=128. Inference (no_grad) and one training step (forward + backward). The two
dtypes are timed alternately, each the minimum of its rounds, in process CPU time (less disturbed
than wall time when the machine is shared; with one thread it is the compute time).
"""

from __future__ import annotations

import argparse
import functools
import platform
import time
from collections.abc import Callable

import torch
from _results import write_section

import keraslike_torch as kt

B, T, F, U = 64, 100, 128, 128
CONFIGS: dict[str, Callable[[], torch.nn.Module]] = {
    "LSTM hard_sigmoid (runner)": lambda: kt.LSTM(U, recurrent_activation="hard_sigmoid", return_sequences=True),
    "GRU reset_after=False (runner)": lambda: kt.GRU(U, reset_after=False, return_sequences=True),
    "SimpleRNN softsign (runner)": lambda: kt.SimpleRNN(U, activation="softsign", return_sequences=True),
    "LSTM (fused kernel)": lambda: kt.LSTM(U, return_sequences=True),
}


def _timed(fn: Callable[[], None]) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    rows = []
    for name, make in CONFIGS.items():
        layer = make()
        layer(x)

        def infer(amp: bool, layer: torch.nn.Module = layer) -> None:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                layer(x)

        def train(amp: bool, layer: torch.nn.Module = layer) -> None:
            layer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                y = layer(x)
            y.float().square().mean().backward()

        for label, fn in (("inference", infer), ("training step", train)):
            fn(False), fn(True)  # warm up
            f32, bf16 = [], []
            for _ in range(args.rounds):
                f32.append(_timed(functools.partial(fn, False)))
                bf16.append(_timed(functools.partial(fn, True)))
            a, b = min(f32) * 1e3, min(bf16) * 1e3
            rows.append(f"| {name} | {label} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "## bfloat16 autocast vs float32 (`bench_autocast.py`)",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}; B={B}, T={T}, F=U={U}; minimum of {args.rounds} alternating rounds, "
        "process CPU time.",
        "",
        "| layer | pass | float32 ms | bf16 autocast ms | ratio |",
        "|---|---|---|---|---|",
        *rows,
    ])
    write_section("bench_autocast", text)


if __name__ == "__main__":
    main()
