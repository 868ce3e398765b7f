"""Loading time of the largest corpus file against reading all its arrays with h5py alone.

    python benchmarks/bench_loading.py [FILE]

The goal (issue: files without TensorFlow): kt.load_model / model_from_json + load_weights take
at most 2x the time of opening the file and reading every dataset with h5py. Median of rounds.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import h5py

import keraslike_torch as kt
from keraslike_torch.porting.formats import open_keras_file

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def read_all(path: Path) -> int:
    n = 0
    with h5py.File(path, "r") as f:
        def visit(_: str, obj: object) -> None:
            nonlocal n
            if isinstance(obj, h5py.Dataset):
                obj[()]
                n += 1
        f.visititems(visit)
    return n


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or sorted(
        (p for p in MODELS.glob("*/*") if p.suffix in (".h5", ".hdf5")), key=lambda p: p.stat().st_size)[-1:]
    lines = [measure(path) for path in files]
    if not sys.argv[1:]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import write_section

        write_section("bench_loading", "## Loading files: `python benchmarks/bench_loading.py`\n\n"
                      "Goal: loading the largest corpus file takes at most 2x the time of reading all its "
                      "arrays with h5py. Median of 15 interleaved rounds.\n\n" + "\n".join(f"- {x}" for x in lines)
                      + "\n\nAll corpus files:\n\n" + "\n".join(f"- {measure(p)}" for p in sorted(
                          q for q in MODELS.glob("*/*") if q.suffix in (".h5", ".hdf5") and (
                              any(q.parent.glob("*.json")) or _full(q)))))


def _full(path: Path) -> bool:
    with open_keras_file(path) as kf:
        return kf.config is not None


def measure(path: Path) -> str:
    arch = next(path.parent.glob("*.json"), None)
    with open_keras_file(path) as kf:
        full = kf.config is not None
    fns = {"h5py read-all": lambda: read_all(path)}
    if full:
        fns["kt.load_model"] = lambda: kt.load_model(path)
    elif arch is not None and arch.name != "textgenrnn_vocab.json":  # weights only, with their JSON
        text = arch.read_text()
        built = kt.model_from_json(text)
        fns["kt.load_weights"] = lambda: kt.load_weights(built, path)
        fns["kt.model_from_json + load_weights"] = lambda: kt.load_weights(kt.model_from_json(text), path)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(2):
        for fn in fns.values():
            fn()
    for _ in range(15):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    base = statistics.median(times["h5py read-all"])
    label = path.relative_to(MODELS) if MODELS in path.parents else path
    cells = [f"{k} {statistics.median(v):.1f} ms ({statistics.median(v) / base:.2f}x)" for k, v in times.items()]
    line = f"{label} ({path.stat().st_size / 1e6:.1f} MB): " + ", ".join(cells)
    print(line)
    return line


if __name__ == "__main__":
    main()
