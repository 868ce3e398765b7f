"""The package's layout holds: no module over 500 lines, no import cycle, each package imports only
the packages below it, the public API and the 0.1 paths keep working (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import keraslike_torch as kt

PKG = Path(kt.__file__).parent
FIXTURES = Path(__file__).parent / "fixtures" / "kt_0_1"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["keraslike_torch", *parts])] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """Modules of the package that ``name`` imports, anywhere in it (lazy imports count: a cycle
    dodged inside a function is still a cycle)."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import submodule` imports the submodule
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def test_no_module_over_500_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: c for n, c in long.items() if c > MAX_LINES} == {}


def test_no_import_cycles():
    """Tarjan's strongly connected components over the import graph: all of size one. (A module
    that imports a name from its own package's __init__, which imports the module, is a cycle.)"""
    graph = GRAPH
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


# Which subpackages each may import (below it in docs/ARCHITECTURE.md). The public facades at the
# top (keraslike_torch/__init__, cells, converters, testing, _compat, keras_layers) may import any.
ALLOWED = {
    "_version": set(),
    "common": {"common"},
    "activations": {"common"},
    "initializers": {"common"},
    "layers": {"common", "activations", "initializers", "layers"},
    "recurrent": {"common", "activations", "initializers", "layers", "recurrent"},
    "porting": {"common", "activations", "initializers", "layers", "recurrent", "porting"},
    "tools": {"common", "activations", "initializers", "layers", "recurrent", "porting", "tools"},
}


def _part(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


def test_each_package_imports_only_what_is_below_it():
    wrong = {}
    for name, deps in GRAPH.items():
        part = _part(name)
        if part not in ALLOWED:
            continue
        bad = sorted(d for d in deps if _part(d) not in ALLOWED[part] | {"_version"})
        if bad:
            wrong[name] = bad
    assert wrong == {}


def test_layers_know_nothing_of_keras_files():
    """The torch modules of layers/ and recurrent/ never see a config or a file: converters do."""
    assert not [n for n in MODULES if _part(n) in ("layers", "recurrent") and
                any(_part(d) == "porting" for d in GRAPH[n])]


# ---- the public API of 0.1 ------------------------------------------------------------------------

API_0_1 = [
    "LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "from_keras", "summary",
    "KerasModel", "load_model", "load_weights", "model_from_json", "model_from_config", "read_weights",
    "KerasFileError", "activations", "cells", "converters", "initializers", "testing",
]


def test_public_api_of_0_1_is_there():
    assert set(API_0_1) <= set(kt.__all__)
    for name in kt.__all__:
        assert getattr(kt, name) is not None, name
    assert {"RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell"} <= set(kt.cells.__all__)
    assert kt.cells.LSTMCell(2, input_size=3).units == 2
    assert callable(kt.activations.get("hard_sigmoid")) and callable(kt.initializers.get("orthogonal"))
    for name in ("register", "convert_layer", "ConvertContext", "UnsupportedLayerError", "converter_names"):
        assert hasattr(kt.converters, name), name
    assert isinstance(kt.converters.convert_layer("SimpleRNN", {"units": 2}), kt.SimpleRNN)
    for name in ("assert_keras_parity", "assert_keras_gradient_parity", "compare_outputs", "dropout_masks"):
        assert callable(getattr(kt.testing, name)), name


def test_converters_register_reaches_load_model():
    """A converter registered through the public kt.converters.register is the one the loaders use."""
    @kt.converters.register("MyCustomIdentity_test_layout")
    def _convert(config, ctx):
        return torch.nn.Identity()

    assert "MyCustomIdentity_test_layout" in kt.converters.converter_names()
    assert isinstance(kt.converters.convert_layer("MyCustomIdentity_test_layout", {}), torch.nn.Identity)


def test_cli_entry_points():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "keraslike-torch"]
    assert callable(ep.load())
    r = subprocess.run([sys.executable, "-m", "keraslike_torch", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "convert" in r.stdout


# ---- what 0.1 users hold: code written by `convert`, modules saved whole -------------------------


@pytest.fixture(scope="module")
def keras_model(keras3):
    return keras3.models.load_model(FIXTURES / "model.keras")


def _inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 10, size=(3, 6)).astype("int32")
    ids[0, 4:] = 0  # padding: Embedding's mask
    ids[2, :2] = 0
    return [ids, rng.standard_normal((3, 6, 3)).astype("float32")]


def _import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("version", ["0_1_0", "0_1_x"])
def test_code_written_by_0_1_convert_still_runs(version, keras_model):
    """0.1.0 wrote `from keraslike_torch.model import KerasModel, ...`; 0.1.x wrote
    `from keraslike_torch.keras_layers import core, conv`. Both import, and give Keras's numbers."""
    mod = _import_file(FIXTURES / f"converted_{version}" / "model.py", f"kt_fixture_{version}")
    model = mod.load()
    for seed in (0, 1):
        x = _inputs(seed)
        ours = model(*[torch.from_numpy(a) for a in x]).detach().numpy()
        np.testing.assert_allclose(ours, np.asarray(keras_model(x)), rtol=1e-5, atol=1e-6)


def test_modules_saved_whole_by_0_1_still_load(keras_model):
    model = torch.load(FIXTURES / "model_pickled.pt", weights_only=False)
    assert type(model) is kt.KerasModel
    for seed in (2, 3):
        x = _inputs(seed)
        ours = model(*[torch.from_numpy(a) for a in x]).detach().numpy()
        np.testing.assert_allclose(ours, np.asarray(keras_model(x)), rtol=1e-5, atol=1e-6)


def test_bidirectional_saved_whole_by_0_1_matches_tf_keras(tfk):
    """Its weights as saved, in tf-keras's Bidirectional(LSTM) with the 0.2-slope hard_sigmoid."""
    bi = torch.load(FIXTURES / "bidirectional_pickled.pt", weights_only=False)
    assert type(bi) is kt.Bidirectional
    layer = tfk.layers.Bidirectional(tfk.layers.LSTM(3, return_sequences=True, recurrent_activation="hard_sigmoid"))
    layer(np.zeros((1, 2, 2), "float32"))
    layer.set_weights(bi.get_keras_weights())
    rng = np.random.default_rng(0)
    kt.testing.assert_keras_parity(layer, bi, rng.standard_normal((2, 7, 2)).astype("float32"))


def test_old_paths_are_the_new_modules():
    from keraslike_torch import _compat

    for old, new in _compat.OLD_PATHS.items():
        a = importlib.import_module(f"keraslike_torch.{old}")
        b = importlib.import_module(f"keraslike_torch.{new}")
        assert a is b, old
    assert callable(kt.summary) and callable(kt.cells.LSTMCell)  # the package's names are kept
    from keraslike_torch.keras_layers import conv, core

    assert core.Dense is kt.layers.Dense and conv.TimeDistributed is kt.layers.TimeDistributed
