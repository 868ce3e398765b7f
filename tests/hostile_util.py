"""Helpers of tests/test_hostile_files.py: hostile-file builders, mutators and the sandboxed runner."""

from __future__ import annotations

import json
import os
import random
import resource
import select
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

WORKER = Path(__file__).with_name("hostile_worker.py")
REPO = Path(__file__).resolve().parents[1]
AS_LIMIT = 6 * 2**30  # address space of a sandboxed load (torch alone reserves ~1.5 GiB)


def limit_memory(limit: int = AS_LIMIT) -> Any:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return preexec


def run_cases(cases: list[dict], workdir: Path, timeout: float = 30.0, limit: int = AS_LIMIT) -> list[dict]:
    """Run cases in a worker subprocess (restarted after a crash or hang); one result per case."""
    results: dict[str, dict] = {}
    pending = list(cases)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    while pending:
        listing = workdir / f"cases_{len(results)}.jsonl"
        listing.write_text("".join(json.dumps(c) + "\n" for c in pending))
        proc = subprocess.Popen([sys.executable, str(WORKER), str(listing)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, cwd=str(REPO), env=env, preexec_fn=limit_memory(limit))
        assert proc.stdout is not None
        current = None
        buf = b""
        deadline = time.monotonic() + timeout + 60  # first case includes the torch import
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
            if not ready:
                proc.kill()
                proc.wait()
                if current is not None:
                    results[current] = {"id": current, "outcome": "hang"}
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                rc = proc.wait()
                if current is not None:
                    results[current] = {"id": current, "outcome": "crash", "returncode": rc}
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "start" in msg:
                    current = msg["start"]
                    deadline = time.monotonic() + timeout
                else:
                    results[msg["id"]] = msg
                    current = None
        proc.stdout.close()
        pending = [c for c in pending if c["id"] not in results]
    return [results[c["id"]] for c in cases]


def make_bases(d: Path, keras3: Any, tfk: Any) -> dict:
    """Four files of one model (LSTM -> GRU -> Dense) in both Keras generations, with references:
    Keras 3 .keras and .weights.h5, tf-keras .h5 and weights-only .h5."""
    import torch

    import keraslike_torch as kt

    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    out = {}
    for gen, K in (("k3", keras3), ("tfk", tfk)):
        K.utils.set_random_seed(1)  # the same base files, hence the same mutants, every run
        layers = [K.layers.LSTM(4, return_sequences=True, name="lstm"), K.layers.GRU(3, name="gru"),
                  K.layers.Dense(2, name="dense")]
        first = K.Input((5, 3)) if gen == "k3" else K.layers.InputLayer((5, 3))
        m = K.Sequential([first, *layers])
        y = np.asarray(m(x))
        ref = d / f"{gen}_ref.npz"
        weights = m.get_weights()
        np.savez(ref, x=x, y=y, nw=len(weights), **{f"w{i}": w for i, w in enumerate(weights)})
        arch = d / f"{gen}_arch.json"
        arch.write_text(m.to_json())
        if gen == "k3":
            m.save(d / "k3.keras")
            m.save_weights(d / "k3.weights.h5")
            out["k3_keras"] = {"path": d / "k3.keras", "mode": "model", "arch": None, "ref": ref}
            out["k3_weights"] = {"path": d / "k3.weights.h5", "mode": "weights", "arch": arch, "ref": ref}
        else:
            m.save(d / "tfk.h5")
            m.save_weights(d / "tfk_w.h5")
            out["tfk_h5"] = {"path": d / "tfk.h5", "mode": "model", "arch": None, "ref": ref}
            out["tfk_weights"] = {"path": d / "tfk_w.h5", "mode": "weights", "arch": arch, "ref": ref}
    # the unmutated loads match Keras: the reference every mutant is compared against
    for name, b in out.items():
        ref = np.load(b["ref"])
        if b["mode"] == "model":
            model = kt.load_model(b["path"])
        else:
            model = kt.model_from_json(Path(b["arch"]).read_text())
            kt.load_weights(model, b["path"])
        with torch.no_grad():
            np.testing.assert_allclose(model(torch.as_tensor(ref["x"])).numpy(), ref["y"], rtol=1e-5, atol=1e-6,
                                       err_msg=name)
    return out


# ---- mutators ------------------------------------------------------------------------------------


def truncate(data: bytes, rnd: random.Random) -> bytes:
    return data[: rnd.randrange(0, len(data))]


def flip(data: bytes, rnd: random.Random) -> bytes:
    d = bytearray(data)
    for _ in range(rnd.choice([1, 1, 2, 4])):
        off = rnd.randrange(len(d))
        n = rnd.choice([1, 2, 4])
        for k in range(off, min(off + n, len(d))):
            d[k] = rnd.choice([0x00, 0xFF, 0x7F, 0x80, rnd.randrange(256), d[k] ^ (1 << rnd.randrange(8))])
    return bytes(d)


_INVALID = ["false", "true", "yes", "no", -1, 0, 2**40, 3.5, [], {}, None, "4", [1, [2]], {"a": 1}]


def mutate_config(config: Any, rnd: random.Random) -> Any:
    """One structural mutation of a model config: a value replaced by a wrong-typed one, a key
    deleted, a value renested, or an equivalent rewrite (true -> 1, 4 -> 4.0)."""
    config = json.loads(json.dumps(config))
    spots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k in node:
                spots.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                spots.append((node, i))
                walk(node[i])

    walk(config)
    parent, key = rnd.choice(spots)
    op = rnd.random()
    if op < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif op < 0.3:
        v = parent[key]
        parent[key] = (int(v) if isinstance(v, bool) else float(v) if isinstance(v, int) else v)
    elif op < 0.4:
        parent[key] = [parent[key]] if rnd.random() < 0.5 else {"config": parent[key]}
    else:
        parent[key] = rnd.choice(_INVALID)
    return config


def mutate_h5_tree(path: Path, rnd: random.Random) -> None:
    """One structural mutation of an HDF5 weights tree, in place."""
    with h5py.File(path, "r+") as f:
        datasets: list[str] = []
        groups: list[str] = ["/"]
        f.visititems(lambda n, o: (datasets if isinstance(o, h5py.Dataset) else groups).append(n))
        op = rnd.randrange(7)
        if op == 0 and datasets:
            del f[rnd.choice(datasets)]
        elif op == 1 and datasets:
            name = rnd.choice(datasets)
            shape = f[name].shape
            del f[name]
            new = tuple(d + rnd.choice([-1, 1]) for d in shape) if shape else (2,)
            f.create_dataset(name, data=np.ones([max(d, 0) for d in new], "float32"))
        elif op == 2 and datasets:
            name = rnd.choice(datasets)
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=np.asarray(data).astype(rnd.choice(["int32", "float64", "S4"])))
        elif op == 3:
            g = f[rnd.choice(groups)]
            attr = rnd.choice(list(g.attrs) or ["weight_names"])
            g.attrs[attr] = rnd.choice([np.int64(3), np.array([b"nope", b"x"]), b"{", np.zeros((2, 2))])
        elif op == 4:
            g = f[rnd.choice(groups)]
            g.create_group(f"extra{rnd.randrange(99)}").create_dataset("0", data=np.ones(3))
        elif op == 5 and datasets:
            name = rnd.choice(datasets)
            f.move(name, name + "_renamed")
        else:
            g = f[rnd.choice(groups)]
            attr = rnd.choice(list(g.attrs) or ["layer_names"])
            value = g.attrs[attr] if attr in g.attrs else None
            if isinstance(value, np.ndarray) and value.size:
                g.attrs[attr] = value[::-1] if rnd.random() < 0.5 else value[:-1]


def rewrite_keras_zip(src: Path, dst: Path, config: dict | None = None,
                      weights: bytes | None = None, extra: dict[str, bytes] | None = None) -> None:
    """Copy a .keras zip, replacing config.json and/or model.weights.h5."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json" and config is not None:
                data = json.dumps(config).encode()
            if info.filename == "model.weights.h5" and weights is not None:
                data = weights
            zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


def set_h5_config(path: Path, config: dict | str) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = config if isinstance(config, str) else json.dumps(config)


def h5_config(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        v = f.attrs["model_config"]
    return json.loads(v if isinstance(v, str) else v.decode())


def zip_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))
