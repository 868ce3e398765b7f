"""The benchmark suite on a CUDA device, as one prepared run: every kt contender checked on the device
against float64 on the CPU, then cuDNN (kt and torch.nn.LSTM), the sequence runner eagerly and
replayed from a CUDA graph, and a mask with holes, timed in alternating blocks.

    python benchmarks/run_cuda.py --out-dir DIR        # on the GPU machine: DIR/RESULTS.md (the
                                                       # bench_cuda section) and DIR/cuda_results.json
    python benchmarks/run_cuda.py --merge DIR/cuda_results.json   # here: that section into RESULTS.md
    python benchmarks/run_cuda.py --device cpu --quick # the same code on the CPU (no graphs)

Needs torch, numpy, h5py and safetensors only (no TensorFlow: the parity suite proved the CPU path
against Keras; this run proves the device against the CPU). A run at the default points takes a few
minutes on an H100-class GPU; ``--quick`` times the base shape only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]  # this checkout's keraslike_torch, ktbench

BASE = {"B": 64, "T": 100, "U": 128}
POINTS = [BASE, {**BASE, "T": 10}, {**BASE, "T": 1000}, {**BASE, "B": 1}, {**BASE, "B": 256},
          {**BASE, "U": 32}, {**BASE, "U": 512}]
TRAIN_POINTS = [BASE, {**BASE, "T": 1000}, {**BASE, "B": 1}]
HEADER = """## CUDA: `python benchmarks/run_cuda.py`

cuDNN through kt's fused path and through torch.nn.LSTM, the sequence runner (hard_sigmoid LSTM
with Keras 2's slope, GRU reset_after=False, SimpleRNN elu) eagerly and replayed from a CUDA graph
captured once per shape, and an LSTM with a mask with holes (gathered onto cuDNN). Each contender
was first checked on the device against the same weights in float64 on the CPU.

"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="the base shape only")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--block", type=float, default=0.05, help="seconds per timed block")
    ap.add_argument("--out-dir", default=None, help="where RESULTS.md (this section) and the JSON go")
    ap.add_argument("--merge", default=None, help="a cuda_results.json: write its section into RESULTS.md")
    a = ap.parse_args()
    from _results import write_section
    from ktbench import cuda, timing
    from ktbench.contenders import Point

    if a.merge:
        data = json.loads(Path(a.merge).read_text())
        write_section("bench_cuda", HEADER + cuda.section(data["groups"], data["meta"]))
        log(f"written to {HERE / 'RESULTS.md'}")
        return 0
    import torch

    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu to try the script here")
    torch.backends.cudnn.allow_tf32 = False  # float32 parity; torch.nn.LSTM runs under the same setting
    torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.perf_counter()
    base = Point(**BASE)
    check_point = Point(8, 20, 32)
    errors = cuda.check(check_point, device)
    log(f"[{time.perf_counter() - t0:.0f} s] checked: largest error {max(errors.values()):.2e}")
    graphs: dict[str, object] = {}
    groups = []
    points = [base] if a.quick else [Point(**p) for p in POINTS]
    train_points = [base] if a.quick else [Point(**p) for p in TRAIN_POINTS]
    for p in points:
        fns = cuda.inference(p, device, graphs)
        groups.append({"point": p.as_dict(), "pass": "inference", "times": timing.alternating(fns, a.rounds, a.block)})
        log(f"[{time.perf_counter() - t0:.0f} s] {p.label()} inference")
    for p in train_points:
        fns = cuda.training(p, device)
        groups.append({"point": p.as_dict(), "pass": "training", "times": timing.alternating(fns, a.rounds, a.block)})
        log(f"[{time.perf_counter() - t0:.0f} s] {p.label()} training")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    meta = {"device": f"{name} ({device})", "machine": timing.machine(torch.get_num_threads()),
            "rounds": a.rounds, "block_s": a.block, "check_point": check_point.label(), "check": errors,
            "graphs": graphs, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "wall_s": time.perf_counter() - t0}
    text = cuda.section(groups, meta)
    print(text)
    if a.out_dir:
        out = Path(a.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "cuda_results.json").write_text(json.dumps({"meta": meta, "groups": groups}, indent=1))
        write_section("bench_cuda", HEADER + text, out / "RESULTS.md")
        log(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
