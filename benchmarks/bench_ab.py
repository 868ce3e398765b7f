"""This checkout's keraslike_torch against an earlier commit's, same machine, same run: the check
that a refactor left the speed unchanged. Each side runs in its own subprocess (the two packages
share a name), alternating A, B, A, B, ...; each reports medians, the ratio is this / base.

    python benchmarks/bench_ab.py --base 4e6246e          # prints a table
    python benchmarks/bench_ab.py --base 4e6246e --write  # and writes its RESULTS.md section
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# (name, batch, steps, features, units, layer keywords, mask with holes, training step)
CASES = [
    ("fused LSTM B=64 T=100", 64, 100, 128, 128, {}, False, False),
    ("fused LSTM B=1 T=10 (overhead)", 1, 10, 8, 8, {}, False, False),
    ("hard_sigmoid LSTM B=64 T=100", 64, 100, 128, 128, {"recurrent_activation": "hard_sigmoid",
                                                          "keras_version": 2}, False, False),
    ("hard_sigmoid LSTM training step", 64, 100, 128, 128, {"recurrent_activation": "hard_sigmoid",
                                                             "keras_version": 2}, False, True),
    ("GRU reset_after=False B=64 T=100", 64, 100, 128, 128, {"reset_after": False, "_gru": True}, False, False),
    ("LSTM mask with holes B=64 T=100", 64, 100, 128, 128, {}, True, False),
    ("LSTM mask with holes B=64 T=100 F=U=32", 64, 100, 32, 32, {}, True, False),
    ("LSTM mask with holes F=U=32 training step", 64, 100, 32, 32, {}, True, True),
    ("fused LSTM training step", 64, 100, 128, 128, {}, False, True),
    ("Keras 3 hard_sigmoid LSTM B=64 T=100", 64, 100, 128, 128, {"recurrent_activation": "hard_sigmoid"},
     False, False),
    ("Keras 2 GRU (hard_sigmoid, reset_after=False)", 64, 100, 128, 128,
     {"reset_after": False, "recurrent_activation": "hard_sigmoid", "keras_version": 2, "_gru": True}, False, False),
    ("Keras 2 GRU training step", 64, 100, 128, 128,
     {"reset_after": False, "recurrent_activation": "hard_sigmoid", "keras_version": 2, "_gru": True}, False, True),
    ("SimpleRNN elu B=64 T=100", 64, 100, 128, 128, {"activation": "elu", "_simple": True}, False, False),
    ("SimpleRNN elu training step", 64, 100, 128, 128, {"activation": "elu", "_simple": True}, False, True),
]

WORKER = r'''
import json, statistics, sys, time, torch
import keraslike_torch as kt
torch.set_num_threads(1)
torch.manual_seed(0)
cases, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
out = {}
for name, b, t, f, u, kw, holes, train in cases:
    kw = dict(kw)
    cls = kt.GRU if kw.pop("_gru", False) else kt.SimpleRNN if kw.pop("_simple", False) else kt.LSTM
    layer = cls(u, return_sequences=True, **kw)
    x = torch.randn(b, t, f, requires_grad=train)
    mask = torch.ones(b, t, dtype=torch.bool)
    if holes:
        mask[:, 3::7] = False
    args = {"mask": mask} if holes else {}
    def run():
        if train:
            layer(x, **args).sum().backward()
        else:
            with torch.no_grad():
                layer(x, **args)
    for _ in range(3):
        run()
    n = max(1, int(0.05 / max(1e-6, (lambda s: (run(), time.perf_counter() - s)[1])(time.perf_counter()))))
    times = []
    for _ in range(rounds):
        s = time.perf_counter()
        for _ in range(n):
            run()
        times.append((time.perf_counter() - s) / n)
    calls = [0]
    def prof(frame, event, arg):
        if event in ("call", "c_call"):
            calls[0] += 1
    sys.setprofile(prof)
    run()
    sys.setprofile(None)
    out[name] = (statistics.median(times), calls[0])
print(json.dumps(out))
'''


def _side(path: Path, cases: list, rounds: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    r = subprocess.run([sys.executable, "-c", WORKER, json.dumps(cases), str(rounds)], env=env,
                       capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare with (git rev)")
    ap.add_argument("--pairs", type=int, default=4, help="alternating subprocess pairs")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument("--write", action="store_true", help="write the bench_ab section of RESULTS.md")
    a = ap.parse_args()
    cases = [c for c in CASES if a.only in c[0]]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", a.base, "keraslike_torch"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        ratios: dict[str, list[float]] = {c[0]: [] for c in cases}
        calls: dict[str, tuple[int, int]] = {}
        for _ in range(a.pairs):
            old, new = _side(base, cases, a.rounds), _side(REPO, cases, a.rounds)
            for k in ratios:
                ratios[k].append(new[k][0] / old[k][0])
                calls[k] = (int(old[k][1]), int(new[k][1]))
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    lines = [f"| case | time, this ({rev}) / base ({a.base}) | Python calls per call, base -> this |",
             "|---|---:|---:|"]
    lines += [f"| {k} | {statistics.median(v):.2f} (range {min(v):.2f}-{max(v):.2f}) | {calls[k][0]} -> {calls[k][1]} |"
              for k, v in ratios.items()]
    table = "\n".join(lines)
    print(table)
    if a.write:
        load = os.getloadavg()[0]
        section = (f"<!-- bench_ab:start -->\n## This checkout against {a.base}: `bench_ab.py`\n\n"
                   f"Medians of {a.pairs} alternating subprocess pairs, {a.rounds} rounds each, 1 thread; "
                   f"load average {load:.1f} at the end. Below 1: this checkout is faster. The Python "
                   "calls (functions entered, Python and C, in one call, counted with sys.setprofile) do "
                   f"not depend on the machine's load.\n\n{table}\n"
                   "<!-- bench_ab:end -->\n")
        path = HERE / "RESULTS.md"
        text = path.read_text()
        if "<!-- bench_ab:start -->" in text:
            head, rest = text.split("<!-- bench_ab:start -->", 1)
            text = head + section + rest.split("<!-- bench_ab:end -->\n", 1)[1]
        else:
            text = text.rstrip() + "\n\n" + section
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
