"""The benchmark suite: kt's fused and runner paths against torch.nn.LSTM, onnxruntime's LSTM (same
weights), Keras 3 on TensorFlow and on torch, and the bare GEMMs, across sweeps of T, B and units.

    python benchmarks/run.py                  # full sweeps; writes RESULTS.md's bench_suite section,
                                              # time_vs_T.png, gflops.png and suite_results.json
    python benchmarks/run.py --quick          # about a minute on an idle 2-core machine (several on a
                                              # loaded one); prints only
    python benchmarks/run.py --quick --out-dir /tmp/b   # quick, and write the files there
    python benchmarks/run.py --scripts        # also run the bench_*.py scripts (each its own section)

Every group of contenders is timed in alternating blocks in one process (see ktbench/timing.py);
Keras 3 reads its backend at import, so each backend runs in a subprocess (ktbench/keras_worker.py)
that times kt alongside it from the same weights. onnxruntime's model and every Keras pair are
checked for equal outputs before they are timed. Inference everywhere; a training step (forward +
backward) wherever the contender has one (onnxruntime has none).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]  # this checkout's keraslike_torch (not the editable install's), ktbench

BASE = {"B": 64, "T": 100, "U": 128}
FULL = {"T": [10, 30, 100, 300, 1000], "B": [1, 8, 64, 256], "U": [32, 64, 128, 256, 512]}
QUICK = {"T": [10, 100, 1000], "B": [1, 64, 256], "U": [32, 128, 512]}
PROFILED = ["kt LSTM (fused)", "kt LSTM hard_sigmoid (runner)", "kt GRU reset_after=False (runner)",
            "kt SimpleRNN elu (runner)", "kt LSTM mask=holes (fused)"]
SCRIPTS = {"bench_rnn.py": ["--quick"], "bench_compile.py": ["--quick"], "bench_loading.py": None,
           "bench_autocast.py": None}  # quick-mode arguments; None: not run in quick mode (always writes)
NOTE = ("Ratios are medians of per-round ratios of contenders timed in alternating blocks in one process. "
        "onnxruntime gets a time-major numpy input prepared outside the timer (its native layout).")
LOADED = ("This run was made on a loaded machine (other jobs running, load average {load:.1f} on {cores} cores at "
          "the start): absolute times are inflated and noisy, and the ratios are what to compare.")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def keras_groups(backend: str, points: list[list[int]], train_points: list[list[int]], args: argparse.Namespace,
                 rounds: int, train_rounds: int) -> list[dict]:
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, str(HERE / "ktbench" / "keras_worker.py"), "--points", json.dumps(points),
           "--train-points", json.dumps(train_points), "--rounds", str(rounds), "--train-rounds", str(train_rounds),
           "--block", str(args.block), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError(f"Keras 3 on {backend} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short sweeps, training and Keras at the base shape only")
    ap.add_argument("--threads", type=int, default=None, help="threads for torch, onnxruntime and TensorFlow "
                    "(default: torch's default)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 7; quick 3)")
    ap.add_argument("--block", type=float, default=None, help="seconds per timed block (default 0.05; quick 0.01)")
    ap.add_argument("--no-keras", action="store_true", help="skip Keras 3 (its subprocesses)")
    ap.add_argument("--keras-T", default=None, help="comma-separated T values for Keras 3's inference pairs "
                    "(default 10,100,1000; quick: 100 only); its training pairs run at the base shape")
    ap.add_argument("--no-profile", action="store_true", help="skip the torch.profiler split")
    ap.add_argument("--scripts", action="store_true", help="also run the bench_*.py scripts")
    ap.add_argument("--out-dir", default=None, help="where RESULTS.md, the PNGs and the JSON go "
                    "(default: benchmarks/ for a full run; a quick run writes nothing unless given)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    import torch
    from ktbench import contenders, profile_split, report, timing

    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    rounds = args.rounds or (3 if args.quick else 7)
    train_rounds = rounds if args.quick else max(3, rounds // 2)
    args.block = args.block if args.block is not None else (0.01 if args.quick else 0.05)
    sweeps = QUICK if args.quick else FULL
    base = contenders.Point(**BASE)
    machine = timing.machine(args.threads)
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    note = NOTE + (" " + LOADED.format(load=load, cores=cores) if load >= 0.5 * cores else "")
    points = list(dict.fromkeys(p for _, p in report.sweep_points(base, sweeps)))

    groups: list[dict] = []
    for p in points:
        for pass_ in ("inference", "training"):
            if pass_ == "training" and args.quick and p != base:
                continue
            fns = contenders.inference(p, args.threads) if pass_ == "inference" else contenders.training(p)
            times = timing.alternating(fns, rounds if pass_ == "inference" else train_rounds, args.block,
                                       warmup=1)
            groups.append({"source": "main", "point": p.as_dict(), "pass": pass_, "times": times})
            log(f"[{time.perf_counter() - t_start:.0f} s] main {p.label()} {pass_}: "
                f"fused LSTM {1e3 * timing.median(times['kt LSTM (fused)']):.2f} ms")

    profiles = []
    if not args.no_profile:
        fi, ft = contenders.inference(base, args.threads), contenders.training(base)
        for name in PROFILED:
            for pass_, fns in (("inference", fi), ("training", ft)):
                profiles.append({"name": name, "pass": pass_, "split": profile_split.split(fns[name], calls=2)})
        log(f"[{time.perf_counter() - t_start:.0f} s] profile done")

    keras_t = [int(t) for t in (args.keras_T or ("100" if args.quick else "10,100,1000")).split(",")]
    if not args.no_keras:
        for backend in ("tensorflow", "torch"):
            groups += keras_groups(backend, [[base.B, t, base.U] for t in keras_t], [[base.B, base.T, base.U]], args,
                                   rounds, train_rounds)
            log(f"[{time.perf_counter() - t_start:.0f} s] keras/{backend} done")

    out_dir = Path(args.out_dir) if args.out_dir else (None if args.quick else HERE)
    meta = {"mode": "quick" if args.quick else "full", "rounds": rounds, "train_rounds": train_rounds,
            "block_s": args.block, "base": BASE, "keras_T": [] if args.no_keras else keras_t, "sweeps": sweeps,
            "machine": machine,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "note": note}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        meta["plots"] = report.plots(groups, meta, out_dir)
    meta["wall_s"] = time.perf_counter() - t_start
    text = report.section(groups, profiles, meta)
    print(text)
    if out_dir is not None:
        from _results import write_section

        (out_dir / "suite_results.json").write_text(json.dumps({"meta": meta, "groups": groups,
                                                                "profiles": profiles}, indent=1))
        write_section("bench_suite", SECTION_HEADER + text, out_dir / "RESULTS.md")
        log(f"written to {out_dir}")
    if args.scripts:
        for script, quick_args in SCRIPTS.items():
            if args.quick and quick_args is None:
                continue
            extra = (quick_args or []) if args.quick else []
            threads = ["--threads", str(args.threads)] if script != "bench_loading.py" else []
            log(f"running {script}")
            path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
            subprocess.run([sys.executable, str(HERE / script), *extra, *threads], check=True, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=path))


SECTION_HEADER = """## Benchmark suite: `python benchmarks/run.py`

kt's fused kernel path and its sequence runner (hard_sigmoid LSTM with Keras 2's 0.2 slope, GRU
reset_after=False, SimpleRNN elu, an LSTM with a mask with holes) against torch.nn.LSTM,
onnxruntime's LSTM operator built from the same weights (HardSigmoid alpha=0.2, beta=0.5 for the
Keras 2 slope; alpha=1/6 is Keras 3's), the bare GEMMs of the same shapes, and Keras 3 on
TensorFlow (tf.function) and on torch (each in its own process, kt timed alongside from the same
weights; hard_sigmoid there is Keras 3's x/6 + 0.5 on both sides). Every ratio is ours / other.

"""

if __name__ == "__main__":
    main()
