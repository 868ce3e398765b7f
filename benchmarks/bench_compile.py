"""torch.compile (inductor, fullgraph=False) against eager, and torch.export times.

Under torch.compile the recurrence runs eagerly behind a graph break (keraslike_torch/tracing.py):
the layers around it are compiled, the recurrence keeps its eager kernels and fast backward. So
the ratio to expect is about 1 (what compile buys is the rest of a model), and compile times
are short. Shape: batch 64, 100 steps, 128 features, 128 units (CPU); the loaded model is
examples/models/first_equals_last.h5 (Embedding(mask_zero) + Bidirectional hard_sigmoid LSTM +
Dense) at batch 64 and its 12 steps. Contenders run in interleaved rounds; each ratio is the
median of the per-round ratios (compiled / eager: below 1 is faster).

    python benchmarks/bench_compile.py            # full run, writes benchmarks/RESULTS.md
    python benchmarks/bench_compile.py --quick    # fewer rounds, prints only
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_rnn import B, F, T, U, interleaved, machine, ratio  # noqa: E402

SECTION_HEADER = """## torch.compile and torch.export: `python benchmarks/bench_compile.py`

torch.compile (default inductor backend, fullgraph=False) runs our recurrence eagerly behind a
graph break, so compiled/eager ratios near 1 are the expected result; the compile time is the
first call (forward) and the first training step (forward + backward + Adam) after a reset.
Export times (T=100, example batch 8): torch.export.export (non-strict, no_grad, dynamic batch) and torch.onnx.export
(dynamo=True); the recurrence is recorded step by step, so they grow with the time length.

"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="5 rounds, no RESULTS.md")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    rounds = 5 if args.quick else args.rounds
    warnings.filterwarnings("ignore")
    import torch
    from torch.export import Dim

    import keraslike_torch as kt

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(B, T, F)
    g = torch.Generator().manual_seed(0)
    holes = torch.rand(B, T, generator=g) > 0.2
    model = kt.load_model(HERE.parent / "examples" / "models" / "first_equals_last.h5")
    ids = torch.randint(1, 6, (B, 12), generator=g)
    ids[: B // 2, :4] = 0
    configs = {
        "kt.LSTM (fused)": (lambda: kt.LSTM(U, input_size=F, return_sequences=True), (x,)),
        "kt.LSTM (fused) mask=holes": (lambda: kt.LSTM(U, input_size=F, return_sequences=True), (x, holes)),
        "kt.LSTM hard_sigmoid (runner)": (
            lambda: kt.LSTM(U, input_size=F, recurrent_activation="hard_sigmoid", return_sequences=True), (x,)),
        "loaded first_equals_last.h5": (lambda: copy.deepcopy(model), (ids,)),
    }

    class Call(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m(x)

    class CallMasked(Call):
        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return self.m(x, mask=mask)

    rows, compile_rows, export_rows = [], [], []
    for name, (factory, inputs) in configs.items():
        eager = (CallMasked if len(inputs) > 1 else Call)(factory())
        comp_model = copy.deepcopy(eager)
        torch._dynamo.reset()
        compiled = torch.compile(comp_model)
        t0 = time.perf_counter()
        with torch.no_grad():
            compiled(*inputs)
        t_fwd = time.perf_counter() - t0
        opt_e = torch.optim.Adam(eager.parameters(), 1e-3)
        opt_c = torch.optim.Adam(comp_model.parameters(), 1e-3)

        def train(m, opt, inputs=inputs):
            def f():
                opt.zero_grad()
                m(*inputs).square().mean().backward()
                opt.step()
            return f

        t0 = time.perf_counter()
        train(compiled, opt_c)()
        t_train = time.perf_counter() - t0
        compile_rows.append((name, t_fwd, t_train))

        def fwd(m, inputs=inputs):
            def f():
                with torch.no_grad():
                    m(*inputs)
            return f

        ti = interleaved({"eager": fwd(eager), "compiled": fwd(compiled)}, rounds)
        tt = interleaved({"eager": train(eager, opt_e), "compiled": train(compiled, opt_c)}, max(3, rounds // 2))
        rows.append((name, statistics.median(ti["eager"]), ratio(ti, "compiled", "eager"),
                     statistics.median(tt["eager"]), ratio(tt, "compiled", "eager")))
        print(rows[-1], compile_rows[-1], flush=True)

        batch = Dim("batch")
        dyn = tuple({0: batch} for _ in inputs)
        with torch.no_grad():
            t0 = time.perf_counter()
            torch.export.export(eager.eval(), tuple(a[:8] for a in inputs), strict=False, dynamic_shapes=dyn)
            t_exp = time.perf_counter() - t0
            t0 = time.perf_counter()
            torch.onnx.export(eager, tuple(a[:8] for a in inputs), dynamo=True, dynamic_shapes=dyn, verbose=False)
            t_onnx = time.perf_counter() - t0
        export_rows.append((name, t_exp, t_onnx))
        print(export_rows[-1], flush=True)

    lines = [f"Shape: batch {B}, {T} steps, {F} features, {U} units, float32, CPU.  ",
             f"Machine: {machine()}.  ",
             f"Date: {time.strftime('%Y-%m-%d')}; {rounds} interleaved rounds (training: {max(3, rounds // 2)}).\n",
             "| config | eager fwd ms | compiled/eager fwd | eager train step ms | compiled/eager train |",
             "|---|---:|---:|---:|---:|"]
    for name, e_f, r_f, e_t, r_t in rows:
        lines.append(f"| {name} | {e_f:.2f} | {r_f:.2f}x | {e_t:.2f} | {r_t:.2f}x |")
    lines += ["", "| config | compile: first forward s | compile: first training step s | "
              "torch.export s | torch.onnx.export(dynamo=True) s |", "|---|---:|---:|---:|---:|"]
    for (name, c_f, c_t), (_, e, o) in zip(compile_rows, export_rows):
        lines.append(f"| {name} | {c_f:.1f} | {c_t:.1f} | {e:.1f} | {o:.1f} |")
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        from _results import write_section

        write_section("bench_compile", SECTION_HEADER + text, Path(args.out))
        print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
