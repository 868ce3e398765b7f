"""Hostile and broken files: every load refuses clearly, stays bounded, and reads nothing outside
the file. Targeted hostile files, each asserting its specific error; memory and hang cases run in
a subprocess with an address-space limit and a timeout. The mutation fuzzing is in
tests/test_hostile_fuzz.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hostile_util import (
    REPO,
    h5_config,
    limit_memory,
    make_bases,
    rewrite_keras_zip,
    set_h5_config,
    zip_config,
)

import keraslike_torch as kt
from keraslike_torch.converters import UnsupportedLayerError

CLEAR = (kt.KerasFileError, UnsupportedLayerError)


# ---- base files, written by Keras -----------------------------------------------------------------


@pytest.fixture(scope="session")
def bases(tmp_path_factory, keras3, tfk):
    return make_bases(tmp_path_factory.mktemp("hostile_bases"), keras3, tfk)


def _copy(src: Path, tmp_path: Path, name: str | None = None) -> Path:
    dst = tmp_path / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def _assert_loads_as_reference(model, base) -> None:
    ref = np.load(base["ref"])
    with torch.no_grad():
        y = model(torch.as_tensor(ref["x"])).numpy()
    np.testing.assert_allclose(y, ref["y"], rtol=1e-5, atol=1e-6)


# ---- 1. nothing outside the file is read --------------------------------------------------------

KERNEL = "model_weights/dense/dense/kernel:0"


def _replace_kernel(path: Path, make) -> None:
    with h5py.File(path, "r+") as f:
        g = f["model_weights/dense/dense"]
        del g["kernel:0"]
        make(g, "kernel:0")


def test_external_raw_storage_refused(bases, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(6, dtype="float32").tobytes())
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    _replace_kernel(p, lambda g, n: g.create_dataset(n, (3, 2), "float32", external=[(str(secret), 0, 24)]))
    with pytest.raises(kt.KerasFileError, match=r"kernel:0.*external file .*secret.bin.*refusing"):
        kt.load_model(p)
    with pytest.raises(kt.KerasFileError, match="external file"):
        kt.read_weights(p)


def test_external_link_refused(bases, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.ones((3, 2), "float32")
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    _replace_kernel(p, lambda g, n: g.__setitem__(n, h5py.ExternalLink(str(other), "/x")))
    with pytest.raises(kt.KerasFileError, match=r"'/model_weights/dense/dense/kernel:0' is an external link"):
        kt.load_model(p)


def test_soft_links_refused(bases, tmp_path):
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    _replace_kernel(p, lambda g, n: g.__setitem__(n, h5py.SoftLink("/elsewhere/kernel")))
    with pytest.raises(kt.KerasFileError, match=r"kernel:0' is a soft link to b?'/elsewhere/kernel'"):
        kt.load_model(p)
    p = _copy(bases["k3_weights"]["path"], tmp_path, "loop.weights.h5")
    with h5py.File(p, "r+") as f:
        f["layers/dense"]["up"] = h5py.SoftLink("/layers")  # a soft-link cycle
    model = kt.model_from_json(bases["k3_weights"]["arch"].read_text())
    with pytest.raises(kt.KerasFileError, match="soft link"):
        kt.load_weights(model, p)


def test_virtual_dataset_refused(bases, tmp_path):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["x"] = np.ones((3, 2), "float32")
    p = _copy(bases["tfk_h5"]["path"], tmp_path)

    def make(g, n):
        layout = h5py.VirtualLayout((3, 2), "float32")
        layout[:] = h5py.VirtualSource(str(src), "x", shape=(3, 2))
        g.create_virtual_dataset(n, layout)

    _replace_kernel(p, make)
    with pytest.raises(kt.KerasFileError, match=r"kernel:0.*virtual dataset"):
        kt.load_model(p)


def test_plugin_filter_refused(bases, tmp_path):
    p = _copy(bases["tfk_h5"]["path"], tmp_path)

    def make(g, n):
        from h5py import h5d, h5p, h5s, h5t, h5z

        dcpl = h5p.create(h5p.DATASET_CREATE)
        dcpl.set_chunk((3, 2))
        dcpl.set_filter(307, h5z.FLAG_OPTIONAL)  # bzip2's registered id: a plugin, never built in
        dsid = h5d.create(g.id, n.encode(), h5t.IEEE_F32LE, h5s.create_simple((3, 2)), dcpl=dcpl)
        dsid.write(h5s.ALL, h5s.ALL, np.ones((3, 2), "float32"))

    _replace_kernel(p, make)
    with pytest.raises(kt.KerasFileError, match=r"kernel:0.*HDF5 filter 307.*plugin"):
        kt.load_model(p)


def test_non_regular_paths(tmp_path):
    fifo = tmp_path / "model.h5"
    os.mkfifo(fifo)
    code = "import keraslike_torch as kt, sys\ntry: kt.load_model(sys.argv[1])\nexcept kt.KerasFileError as e: print(e)"
    r = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=120,
                       cwd=REPO)
    assert "is a FIFO, not a regular file" in r.stdout, r.stderr[-2000:]
    with pytest.raises(kt.KerasFileError, match="is a device, not a regular file"):
        kt.load_model("/dev/zero")
    with pytest.raises(kt.KerasFileError, match="is a directory \\(a TensorFlow SavedModel\\?\\)"):
        kt.load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such Keras file"):
        kt.load_model(tmp_path / "missing.h5")


# ---- 2./3. bounded resources; deep and cyclic structures ---------------------------------------


def test_deep_json_config(bases, tmp_path):
    deep = {"class_name": "Sequential", "config": {"layers": [[]]}}
    cur = deep["config"]["layers"][0]
    for _ in range(100_000):
        cur.append([])
        cur = cur[0]
    text = "[" * 100_000 + "]" * 100_000
    p = tmp_path / "deep.keras"
    base = bases["k3_keras"]["path"]
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(p, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, text if info.filename == "config.json" else zin.read(info.filename))
    t0 = time.perf_counter()
    with pytest.raises(kt.KerasFileError, match=r"config.json in .* nests 100000 levels deep"):
        kt.load_model(p)
    p2 = _copy(bases["tfk_h5"]["path"], tmp_path)
    with h5py.File(p2, "r+") as f:
        f.attrs["model_config"] = '{"a": ' * 5000 + "1" + "}" * 5000
    with pytest.raises(kt.KerasFileError, match="model_config of .* nests 5000 levels deep"):
        kt.load_model(p2)
    assert time.perf_counter() - t0 < 5


def _nested_sequential(depth: int) -> str:
    """JSON text of ``depth`` Sequential models nested in each other (too deep for json.dumps)."""
    text = '{"class_name": "Dense", "config": {"name": "d", "units": 2}}'
    for i in range(depth):
        text = f'{{"class_name": "Sequential", "config": {{"name": "s{i}", "layers": [{text}]}}}}'
    return text


def test_400_nested_models(bases, tmp_path):
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    set_h5_config(p, _nested_sequential(400))
    t0 = time.perf_counter()
    with pytest.raises(kt.KerasFileError, match="nests .* levels deep"):
        kt.load_model(p)
    assert time.perf_counter() - t0 < 1


def test_deep_and_cyclic_hdf5_groups(bases, tmp_path):
    model = kt.model_from_json(bases["k3_weights"]["arch"].read_text())
    before = model.get_keras_weights()
    p = _copy(bases["k3_weights"]["path"], tmp_path, "deep.weights.h5")
    with h5py.File(p, "r+") as f:
        g = f["layers/dense"]
        for i in range(200):
            g = g.create_group(f"g{i}")
    with pytest.raises(kt.KerasFileError, match="groups nest deeper than 64 levels"):
        kt.load_weights(model, p)
    p = _copy(bases["k3_weights"]["path"], tmp_path, "cycle.weights.h5")
    with h5py.File(p, "r+") as f:
        f["layers/dense/loop"] = f["layers"]  # a hard link back to an ancestor
    t0 = time.perf_counter()
    for fn in (lambda: kt.load_weights(model, p), lambda: kt.load_weights(model, p, by_name=True),
               lambda: kt.read_weights(p)):
        with pytest.raises(kt.KerasFileError, match="'/layers/dense/loop' is linked a second time"):
            fn()
    assert time.perf_counter() - t0 < 1
    for a, b in zip(before, model.get_keras_weights()):
        np.testing.assert_array_equal(a, b)  # atomic: nothing changed


def _sandboxed(code: str, *args: str, limit: int = 3 * 2**30, timeout: float = 180) -> tuple[str, int]:
    """Run ``code`` in a subprocess with an address-space limit; returns (stdout, peak RSS in MB)."""
    wrapper = code + "\nimport resource\nprint('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    r = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, timeout=timeout,
                       cwd=REPO, preexec_fn=limit_memory(limit), env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    rss = int(r.stdout.rsplit("RSS", 1)[1])
    return r.stdout, rss


_LOAD = ("import keraslike_torch as kt, sys\n"
         "try: kt.load_model(sys.argv[1]); print('LOADED')\n"
         "except kt.KerasFileError as e: print('ERROR', e)\n")
_BASELINE_RSS: list[int] = []


def _baseline_rss(bases) -> int:
    if not _BASELINE_RSS:
        _BASELINE_RSS.append(_sandboxed(_LOAD, str(bases["tfk_h5"]["path"]))[1])
    return _BASELINE_RSS[0]


def test_zip_bomb_bounded(bases, tmp_path):
    p = tmp_path / "bomb.keras"
    base = bases["k3_keras"]["path"]
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "model.weights.h5":
                zout.writestr(info.filename, zin.read(info.filename))
        with zout.open("model.weights.h5", "w", force_zip64=True) as w:
            chunk = bytes(2**24)
            for _ in range(64):  # 1 GiB of zeros: ~1 MB on disk
                w.write(chunk)
    assert p.stat().st_size < 4 * 2**20
    out, rss = _sandboxed(_LOAD, str(p))
    assert "ERROR" in out and "model.weights.h5" in out and "zip bomb" in out, out
    assert rss < _baseline_rss(bases) + 100, (rss, _BASELINE_RSS)


def test_unwritten_chunked_dataset_not_allocated(bases, tmp_path):
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    _replace_kernel(p, lambda g, n: g.create_dataset(n, (30000, 30000), "float32", chunks=(100, 100)))
    assert p.stat().st_size < 100_000
    out, rss = _sandboxed(_LOAD, str(p))
    assert "declares shape (30000, 30000) but no data is written" in out and "kernel:0" in out, out
    assert rss < _baseline_rss(bases) + 100, (rss, _BASELINE_RSS)
    # partly written, uncompressed: refused too
    p = _copy(bases["tfk_h5"]["path"], tmp_path, "part.h5")
    _replace_kernel(p, lambda g, n: g.create_dataset(n, (3000, 3000), "float32", chunks=(100, 100)))
    with h5py.File(p, "r+") as f:
        f[KERNEL][:100, :100] = 1
    with pytest.raises(kt.KerasFileError, match=r"declares shape \(3000, 3000\) \(36000000 bytes\) but stores only"):
        kt.load_model(p)


def test_huge_config_sizes_refused_before_allocating(tmp_path, keras3):
    K = keras3
    m = K.Sequential([K.Input((4,), dtype="int32"), K.layers.Embedding(10, 6, name="embedding"),
                      K.layers.LSTM(3, name="lstm")])
    p = tmp_path / "emb.keras"
    m.save(p)
    config = zip_config(p)
    emb = next(e for e in config["config"]["layers"] if e["class_name"] == "Embedding")
    emb["config"]["input_dim"] = 200_000_000
    bad = tmp_path / "emb_bad.keras"
    rewrite_keras_zip(p, bad, config=config)
    assert bad.stat().st_size < 40_000
    out, rss = _sandboxed(_LOAD, str(bad))
    assert str(bad) in out
    assert "Embedding layer 'embedding': input_dim=200000000, output_dim=6 ask for 1200000000 parameters" in out
    assert rss < _baseline_rss_k3(p) + 100
    lstm = next(e for e in config["config"]["layers"] if e["class_name"] == "LSTM")
    emb["config"]["input_dim"] = 10
    lstm["config"]["units"] = 100_000
    rewrite_keras_zip(p, bad, config=config)
    with pytest.raises(kt.KerasFileError, match=r"LSTM layer 'lstm': units=100000 ask for \d+ parameters"):
        kt.load_model(bad)


def _baseline_rss_k3(p: Path) -> int:
    return _sandboxed(_LOAD, str(p))[1]


# ---- 4. the corrupt attribute that crashed libhdf5 ---------------------------------------------


def test_corrupt_attributes_refused(bases, tmp_path):
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    with h5py.File(p, "r+") as f:
        del f.attrs["model_config"]
        f.attrs.create("model_config", np.zeros((4, 4), "float32"))
    with pytest.raises(kt.KerasFileError, match=r"attribute 'model_config' .* shape \(4, 4\)"):
        kt.load_model(p)
    with h5py.File(p, "r+") as f:
        del f.attrs["model_config"]
        f.attrs["model_config"] = np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    with pytest.raises(kt.KerasFileError, match="attribute 'model_config' .* type class"):
        kt.load_model(p)
    p = _copy(bases["tfk_h5"]["path"], tmp_path, "wn.h5")
    with h5py.File(p, "r+") as f:
        f["model_weights/dense"].attrs["weight_names"] = np.array([b"\xff\xfe"])
    with pytest.raises(kt.KerasFileError, match="not UTF-8"):
        kt.load_model(p)


def _gcol_variant(src: Path, dst: Path, index: int, size: int) -> None:
    """Rewrite the first object header of the file's global heap (where h5py keeps vlen strings)."""
    data = bytearray(src.read_bytes())
    at = data.find(b"GCOL\x01") + 16
    data[at:at + 2] = index.to_bytes(2, "little")
    data[at + 8:at + 16] = size.to_bytes(8, "little")
    dst.write_bytes(bytes(data))


def test_corrupt_global_heap_refused_before_libhdf5(bases, tmp_path):
    """A free-space object of size 0 makes libhdf5 1.14 loop forever on the first string attribute
    read (any size that does not fit the collection is refused the same way)."""
    for name in ("tfk_h5", "tfk_weights"):
        src = bases[name]["path"]
        p = tmp_path / f"gcol_{name}.h5"
        _gcol_variant(src, p, 0, 0)
        out, _ = _sandboxed(_LOAD, str(p), timeout=120)
        assert "ERROR" in out and "global heap at byte" in out and "claims 0 bytes" in out, out
    p = tmp_path / "gcol_big.h5"
    _gcol_variant(bases["tfk_h5"]["path"], p, 1, 5000)
    with pytest.raises(kt.KerasFileError, match="object 1 of the HDF5 global heap .* claims 5000 bytes"):
        kt.load_model(p)
    inner = tmp_path / "inner.h5"
    with zipfile.ZipFile(bases["k3_keras"]["path"]) as z:
        inner.write_bytes(z.read("model.weights.h5"))
    _gcol_variant(inner, inner, 0, 0)
    p = tmp_path / "gcol.keras"
    rewrite_keras_zip(bases["k3_keras"]["path"], p, weights=inner.read_bytes())
    with pytest.raises(kt.KerasFileError, match="model.weights.h5 in .*global heap"):
        kt.load_model(p)


# ---- 5. config values are type-checked ------------------------------------------------------------


def _with_layer_option(bases, tmp_path, layer: str, key: str, value, name: str = "opt.h5") -> Path:
    p = _copy(bases["tfk_h5"]["path"], tmp_path, name)
    config = h5_config(p)
    entry = next(e for e in config["config"]["layers"] if e["config"].get("name") == layer)
    if value is KeyError:
        del entry["config"][key]
    else:
        entry["config"][key] = value
    set_h5_config(p, config)
    return p


@pytest.mark.parametrize("key,value", [("return_sequences", "false"), ("time_major", "no"),
                                       ("go_backwards", "true"), ("stateful", [])])
def test_string_bools_refused(bases, tmp_path, key, value):
    p = _with_layer_option(bases, tmp_path, "gru", key, value)
    expected = f"GRU layer 'gru': '{key}' must be true or false, got {re.escape(repr(value))}"
    with pytest.raises(kt.KerasFileError, match=expected):
        kt.load_model(p)


@pytest.mark.parametrize("key,value", [("return_sequences", 1), ("go_backwards", 0), ("dropout", None),
                                       ("units", 4.0), ("recurrent_dropout", 0), ("use_bias", None)])
def test_equivalent_values_load_the_same(bases, tmp_path, key, value):
    p = _with_layer_option(bases, tmp_path, "lstm", key, value)
    _assert_loads_as_reference(kt.load_model(p), bases["tfk_h5"])


@pytest.mark.parametrize("key,value,what", [
    ("units", "4", "a positive int"), ("units", -4, "a positive int"), ("units", True, "a positive int"),
    ("units", 2**40, "a positive int"), ("units", KeyError, "has no 'units'"),
    ("dropout", "0.5", r"a number in \[0, 1\]"), ("dropout", 1.5, r"a number in \[0, 1\]"),
    ("recurrent_dropout", [0.1], r"a number in \[0, 1\]"),
])
def test_bad_sizes_and_rates_refused(bases, tmp_path, key, value, what):
    p = _with_layer_option(bases, tmp_path, "lstm", key, value)
    with pytest.raises(CLEAR, match=f"LSTM.* 'lstm'.*{what}"):
        kt.load_model(p)


# ---- 6. nothing imported or executed; clear errors for unexpected shapes -----------------------


def test_code_never_runs(bases, tmp_path):
    marker = tmp_path / "ran"
    import marshal

    code = compile(f"open({str(marker)!r}, 'w').write('x')", "<hostile>", "exec")
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    config = h5_config(p)
    config["config"]["layers"].insert(2, {"class_name": "Lambda", "config": {
        "name": "evil", "function": [marshal.dumps(code).hex(), None, None], "function_type": "lambda"}})
    set_h5_config(p, config)
    with pytest.raises(UnsupportedLayerError, match="Lambda layer 'evil'.* never executed"):
        kt.load_model(p)
    config["config"]["layers"][2] = {"module": "os", "class_name": "system", "config": {"name": "touch"}}
    set_h5_config(p, config)
    with pytest.raises(UnsupportedLayerError, match="of class 'system' has no converter"):
        kt.load_model(p)
    assert not marker.exists()


@pytest.mark.parametrize("mutate", [
    lambda c: c["config"].__setitem__("layers", 5),
    lambda c: c["config"]["layers"].__setitem__(1, "LSTM"),
    lambda c: c["config"]["layers"][1].__setitem__("config", [1, 2]),
    lambda c: c["config"]["layers"][1]["config"].__setitem__("dtype", {"config": 3}),
    lambda c: c["config"].__setitem__("layers", [{"class_name": 7}]),
    lambda c: c.__setitem__("config", "x"),
    lambda c: c["config"]["layers"][1]["config"].__setitem__("activation", {"a": []}),
], ids=["layers-int", "entry-str", "config-list", "dtype-dict", "class-int", "config-str", "activation-dict"])
def test_unexpected_config_shapes_clear(bases, tmp_path, mutate):
    p = _copy(bases["tfk_h5"]["path"], tmp_path)
    config = h5_config(p)
    mutate(config)
    set_h5_config(p, config)
    with pytest.raises(CLEAR) as info:
        kt.load_model(p)
    assert str(p) in str(info.value)  # every error names the file


def test_foreign_errors_name_the_layer(bases, tmp_path):
    p = _with_layer_option(bases, tmp_path, "gru", "activation", 3.5)
    with pytest.raises(kt.KerasFileError, match=r"opt.h5': layer 'gru' \(GRU\): cannot be read \(TypeError: An "
                                                r"activation must be a name") as info:
        kt.load_model(p)
    assert isinstance(info.value, TypeError)  # still a TypeError for callers that catch one
