"""``keraslike-torch convert``: the generated module (nn.Module classes, straight-line forward)
gives the numbers of the loaded KerasModel and of Keras, in float32 and float64; names from the
file enter the code only as identifiers or literals; KerasModel.forward's signature names the
Keras inputs."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import io
import json
import pickle
import shutil
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from kutil import generation
from test_corpus import FULL_MODELS, WEIGHTS_ONLY
from test_corpus import _inputs as corpus_inputs
from test_files import inputs_for, randomize, sink_models

import keraslike_torch as kt
from keraslike_torch.tools.codegen import save_converted

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "models" / "first_equals_last.h5"


# ---- helpers ---------------------------------------------------------------------------------


def convert(model, out: Path, source: str = "m.h5"):
    """save_converted, then import the written model.py under a fresh name and load() it."""
    code, _ = save_converted(model, out, source=source)
    spec = importlib.util.spec_from_file_location(f"converted_{abs(hash(str(out)))}", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(), code.read_text(encoding="ascii")


def _tensors(inputs, dtype=None):
    out = []
    for x in inputs:
        t = torch.as_tensor(np.asarray(x))
        out.append(t.to(dtype) if dtype is not None and t.is_floating_point() else t)
    return out


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_same(km, gen, inputs):
    """The generated module equals the KerasModel exactly (same layers, same calls), in float32
    and in float64."""
    assert not gen.training
    for dtype in (torch.float32, torch.float64):
        km.to(dtype).eval()
        gen.to(dtype)
        xs = _tensors(inputs, dtype)
        with torch.no_grad():
            a, b = _flat(km(*xs)), _flat(gen(*xs))
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.dtype == y.dtype == dtype
            torch.testing.assert_close(y, x, rtol=0, atol=0, equal_nan=True)
    km.float()
    gen.float()


def model_inputs(km, seed=0):
    """Example inputs with padding: integer rows pre-padded with zeros, float rows with zero
    steps (what Embedding(mask_zero) and Masking(0.0) mask)."""
    xs = [t.numpy().copy() for t in km.example_inputs(batch_size=3, time_steps=7, seed=seed)]
    for x in xs:
        if x.ndim >= 2:
            if x.dtype.kind in "iu":
                x[x == 0] = 1
                x[0, :3] = 0
                x[2, :] = 0
            else:
                x[1, :2] = 0.0
    return xs


def graph_models(K):
    """Sequential, 2 inputs/2 outputs, shared layer, nested models (with and without masks),
    Embedding(mask_zero) and Masking in front of recurrent layers, encoder-decoder state wiring."""
    L = K.layers
    models = {}
    models["sequential"] = K.Sequential([K.Input((6, 4)), L.LSTM(5, return_sequences=True, name="l1"),
                                         L.GRU(3, name="g1"), L.Dense(2, activation="softmax", name="out")])
    a, b = K.Input((6, 4), name="a"), K.Input((6, 3), name="b")
    la, gb = L.LSTM(5, name="la")(a), L.GRU(5, name="gb")(b)
    joined = L.Concatenate(name="cat")([la, gb])
    models["two_in_two_out"] = K.Model([a, b], [L.Dense(2, name="d1")(joined), L.Dense(3, name="d2")(la)])
    a, b = K.Input((6, 4), name="left"), K.Input((6, 4), name="right")
    shared = L.LSTM(5, return_sequences=True, name="shared")
    models["shared"] = K.Model([a, b], L.Add(name="add")([shared(a), shared(b)]))
    x = K.Input((6, 4), name="x")
    inner = K.Sequential([K.Input((6, 5)), L.LSTM(3, name="inner_lstm"), L.Dense(2, name="inner_dense")],
                         name="inner")
    models["nested"] = K.Model(x, inner(L.Dense(5, name="pre")(x)))
    ids = K.Input((7,), name="ids", dtype="int32")
    e = L.Embedding(20, 5, mask_zero=True, name="emb")(ids)
    ii = K.Input((None, 5), name="inner_in")
    body = K.Model(ii, L.Dense(4, name="td")(L.LSTM(4, return_sequences=True, name="inner_seq")(ii)), name="body")
    models["nested_masked"] = K.Model(ids, L.GRU(3, name="after")(body(e)))
    ids = K.Input((7,), name="tokens", dtype="int32")
    e = L.Embedding(20, 5, mask_zero=True, name="emb")(ids)
    s = L.LSTM(5, return_sequences=True, name="seq1")(e)
    s = L.LSTM(4, return_sequences=True, name="seq2")(s)
    models["embedding_mask"] = K.Model(ids, L.Dense(2, name="head")(s))
    x = K.Input((7, 3), name="frames")
    m = L.Masking(0.0, name="masking")(x)
    models["masking"] = K.Model(x, L.GRU(3, name="gru")(L.LSTM(4, return_sequences=True, name="lstm")(m)))
    enc, dec = K.Input((7,), name="enc", dtype="int32"), K.Input((7,), name="dec", dtype="int32")
    _, h, c = L.LSTM(6, return_state=True, name="encoder")(L.Embedding(20, 5, mask_zero=True, name="enc_emb")(enc))
    de = L.Embedding(20, 5, mask_zero=True, name="dec_emb")(dec)  # SPEC 5a: masked in tf-keras only
    y = L.LSTM(6, return_sequences=True, name="decoder")(de, initial_state=[h, c])
    models["encoder_decoder"] = K.Model([enc, dec], L.Dense(4, activation="softmax", name="probs")(y))
    return models


def _save_and_load(model, K, tmp_path):
    path = tmp_path / ("m.keras" if generation(K) == 3 else "m.h5")
    model.save(path)
    return kt.load_model(path), path


# ---- equality ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sequential", "two_in_two_out", "shared", "nested", "nested_masked",
                                  "embedding_mask", "masking", "encoder_decoder"])
def test_generated_module_matches_keras_model(K, name, tmp_path, rng):
    model = graph_models(K)[name]
    randomize(model, rng)
    km, path = _save_and_load(model, K, tmp_path)
    gen, code = convert(km, tmp_path / "out", path.name)
    inputs = model_inputs(km)
    assert_same(km, gen, inputs)
    kt.testing.assert_keras_parity(model, gen, inputs)  # and Keras's own numbers
    tree = ast.parse(code)
    forward = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "forward"][-1]
    assert [a.arg for a in forward.args.args] == ["self"] + km.input_arg_names
    if name == "shared":  # one attribute, two calls
        assert code.count("self.shared = ") == 1 and code.count("self.shared(") == 2
    if name == "nested":  # a nested class, called as a module
        assert "class Inner(nn.Module)" in code and "self.inner = Inner()" in code and "self.inner(" in code
    if name == "nested_masked" and generation(K) == 2:  # masked input: nested calls inline, with the mask
        assert "self.body.inner_seq(" in code and "mask=emb_mask" in code
    if name == "nested_masked" and generation(K) == 3:  # Keras 3 records the mask as an op's output
        assert "self.body.inner_seq(emb, mask=not_equal" in code
    if name == "encoder_decoder":
        assert "initial_state=[encoder_h, encoder_c]" in code
        # SPEC 5a: Keras 3 runs the decoder unmasked (three tensor arguments), tf-keras masked
        decoder_line = next(line for line in code.splitlines() if "self.decoder(" in line)
        assert ("mask=" in decoder_line) == (generation(K) == 2), decoder_line


@pytest.mark.parametrize("name", ["tokens", "merges", "conv", "seq2seq"])
def test_generated_module_matches_sink_models(K, name, tmp_path, rng):
    """Every layer class and graph pattern of test_files, as each generation writes it."""
    model = sink_models(K)[name]
    randomize(model, rng)
    km, path = _save_and_load(model, K, tmp_path)
    gen, _ = convert(km, tmp_path / "out", path.name)
    x = inputs_for(name, rng)
    assert_same(km, gen, x)
    kt.testing.assert_keras_parity(model, gen, x)


def test_bundled_example(tmp_path):
    km = kt.load_model(EXAMPLE)
    gen, code = convert(km, tmp_path / "out", EXAMPLE.name)
    ids = np.load(EXAMPLE.parent / "first_equals_last_inputs.npy")
    assert_same(km, gen, [ids])
    assert "def forward(self, tokens: torch.Tensor) -> torch.Tensor:" in code
    assert "self.bilstm(embedding, mask=embedding_mask)" in code
    assert set(gen.state_dict()) == set(km.state_dict())  # names are already identifiers here


@pytest.mark.parametrize("path,steps,kind", FULL_MODELS, ids=[p for p, _, _ in FULL_MODELS])
def test_corpus_full_models(shared_models, path, steps, kind, tmp_path):
    km = kt.load_model(shared_models / path)
    gen, _ = convert(km, tmp_path / "out", Path(path).name)
    assert_same(km, gen, corpus_inputs(km, steps, kind))


@pytest.mark.parametrize("weights,arch", WEIGHTS_ONLY, ids=[w for w, _ in WEIGHTS_ONLY])
def test_corpus_weights_only(shared_models, weights, arch, tmp_path):
    km = kt.model_from_json((shared_models / arch).read_text())
    kt.load_weights(km, shared_models / weights)
    gen, _ = convert(km, tmp_path / "out", Path(weights).name)
    assert_same(km, gen, corpus_inputs(km, None))


def test_generated_module_exports(keras3, tmp_path, rng):
    """torch.export binds the generated forward's named inputs; the program gives the numbers."""
    model = graph_models(keras3)["two_in_two_out"]
    randomize(model, rng)
    km, path = _save_and_load(model, keras3, tmp_path)
    gen, _ = convert(km, tmp_path / "out", path.name)
    a, b = _tensors(model_inputs(km))
    program = torch.export.export(gen, (a, b))
    assert [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"] == ["a", "b"]
    for x, y in zip(program.module()(a, b), gen(a, b)):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)


# ---- hostile names -------------------------------------------------------------------------------


def _payloads(sentinel: Path) -> list[str]:
    s = str(sentinel)
    return [
        f'x"""; __import__("os").system("touch {s}")#',
        f"y'''; import os; os.system('touch {s}') #",
        f'z\\"\\\\"; open({s!r}, "w")\n#',
        f"line\nbreak\r\n__import__('os').system('touch {s}')",
        "class",
        "forward",
        "__init__",
        "__class__",
        "ünïcødé 层",
        "a-b",
        "a_b",
        "a.b",
        "1st",
        "self",
        "torch",
        "mask",
        "dtype",
        "kt",
    ]


def _hostile_model(K):
    """Two inputs, a nested model, a shared layer; every name a placeholder ``Pnn``."""
    L = K.layers
    a, b = K.Input((5, 3), name="P00"), K.Input((5, 3), name="P01")
    shared = L.LSTM(4, return_sequences=True, name="P02")
    inner_in = K.Input((5, 4), name="P03")
    inner = K.Model(inner_in, L.Dense(2, name="P04")(L.GRU(3, name="P05")(inner_in)), name="P06")
    m = L.Masking(0.0, name="P07")(a)
    y = L.Concatenate(name="P08")([inner(shared(m)), inner(shared(b))])
    outs = [L.Dense(2, name="P09")(y), L.Dense(1, name=f"P{10:02d}")(y)]
    for i in range(11, 18):
        outs.append(L.Dense(1, name=f"P{i:02d}")(y))
    return K.Model([a, b], outs, name=f"P{18:02d}")


def _rename(config, names):
    if isinstance(config, dict):
        return {k: _rename(v, names) for k, v in config.items()}
    if isinstance(config, list):
        return [_rename(v, names) for v in config]
    if isinstance(config, str) and config in names:
        return names[config]
    return config


def _write_hostile(K, tmp_path, rng, sentinel):
    model = _hostile_model(K)
    randomize(model, rng)
    payloads = _payloads(sentinel)
    names = {f"P{i:02d}": payloads[i] for i in range(len(payloads))}
    names["P18"] = payloads[0]  # the model's name: once inside a docstring
    if generation(K) == 3:
        src, path = tmp_path / "orig.keras", tmp_path / "hostile.keras"
        model.save(src)
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename == "config.json":
                    data = json.dumps(_rename(json.loads(data), names)).encode()
                zout.writestr(item, data)
    else:
        path = tmp_path / "hostile.h5"
        model.save(path)
        with h5py.File(path, "r+") as f:
            config = json.loads(f.attrs["model_config"])
            f.attrs["model_config"] = json.dumps(_rename(config, names))
    return model, path


_ALLOWED_CALL_NAMES = {"super", "next", "str", "Path", "load_file", "float", "convert_layer"}
_ALLOWED_METHODS = {"to", "is_floating_point", "parameters", "load_state_dict", "eval", "with_name",
                    "__init__", "compute_mask"}


def _check_calls(code: str) -> None:
    """Only the expected constructors and calls: kt and kt.layers classes, the model's own layers."""
    tree = ast.parse(code)
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    from keraslike_torch import layers

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) in (
                "__future__", "pathlib", "torch", "safetensors.torch", "keraslike_torch",
                "keraslike_torch.converters"), ast.dump(node)
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name):
            assert f.id in _ALLOWED_CALL_NAMES | classes, ast.unparse(node)
            continue
        assert isinstance(f, ast.Attribute), ast.unparse(node)
        root = f.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id == "self":
            continue  # the model's own layers
        if isinstance(f.value, ast.Name) and f.value.id in ("kt", "layers"):
            target = {"kt": kt, "layers": layers}[f.value.id]
            assert isinstance(getattr(target, f.attr, None), type), ast.unparse(node)
            assert issubclass(getattr(target, f.attr), torch.nn.Module), ast.unparse(node)
            continue
        assert f.attr in _ALLOWED_METHODS, ast.unparse(node)


def test_hostile_names_never_run_and_convert_right(K, tmp_path, rng):
    sentinel = tmp_path / "pwned"
    model, path = _write_hostile(K, tmp_path, rng, sentinel)
    km = kt.load_model(path)
    assert km.name == _payloads(sentinel)[0]
    gen, code = convert(km, tmp_path / "out", source=_payloads(sentinel)[1])  # a hostile file name too
    assert not sentinel.exists()
    _check_calls(code)
    tree = ast.parse(code)
    for node in ast.walk(tree):  # no file text in docstrings but as identifiers
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
            doc = ast.get_docstring(node) or ""
            assert not any(p in doc for p in _payloads(sentinel)[:4]) and "'" not in doc and '"' not in doc, doc
    comments = {t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.COMMENT}
    assert comments == {"# the Keras file this was converted from"}  # no file text in comments
    assert code.isascii()
    # the names come back as literals, intact
    assert gen.keras_name == km.name and list(gen.keras_inputs) == [s.name for s in km.input_specs]
    # identifiers: distinct after sanitizing, none a keyword or a torch.nn.Module attribute
    attrs = [n for n, _ in gen.named_children()]
    assert len(set(attrs)) == len(attrs) == len(km.keras_layers())
    assert all(a.isidentifier() and not hasattr(torch.nn.Module(), a) for a in attrs)
    xs = model_inputs(km)
    assert_same(km, gen, xs)
    kt.testing.assert_keras_parity(model, gen, xs)  # the model before renaming: the same numbers
    # KerasModel.forward's own argument names are identifiers too, and bind
    sig = inspect.signature(km.forward)
    names = list(sig.parameters)[:-1]
    assert all(n.isidentifier() for n in names) and len(set(names)) == 2
    by_name = km(**dict(zip(names, _tensors(xs))))
    for x, y in zip(_flat(by_name), _flat(km(*_tensors(xs)))):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert not sentinel.exists()


# ---- KerasModel.forward signature ------------------------------------------------------------------


@pytest.fixture
def two_inputs(tfk, tmp_path, rng):
    model = graph_models(tfk)["two_in_two_out"]
    randomize(model, rng)
    km, _ = _save_and_load(model, tfk, tmp_path)
    return model, km.eval(), _tensors(model_inputs(km))


def test_forward_signature_names_inputs(two_inputs):
    model, km, (a, b) = two_inputs
    assert list(inspect.signature(km.forward).parameters) == ["a", "b", "mask"]
    assert inspect.signature(km.forward).parameters["mask"].default is None
    ref = _flat(km(a, b))
    kt.testing.assert_keras_parity(model, km, [a.numpy(), b.numpy()])
    for out in (km([a, b]), km((a, b)), km(a=a, b=b), km(a, b=b), km(a, b, None), km.forward(a, b)):
        for x, y in zip(_flat(out), ref):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['c'\]"):
        km(a, c=b)
    with pytest.raises(TypeError, match="missing inputs"):
        km(a=a)


def test_forward_mask_positional_and_keyword(keras3, rng):
    """mask= still works, and as the signature's last positional argument (legacy ONNX export
    passes defaults positionally)."""
    x = keras3.Input((6, 3), name="seq")
    km = kt.from_keras(keras3.Model(x, keras3.layers.LSTM(4, name="rnn")(x))).eval()
    assert list(inspect.signature(km.forward).parameters) == ["seq", "mask"]
    xs = torch.randn(2, 6, 3)
    m = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    by_kw, by_pos, unmasked = km(xs, mask=m), km(xs, m), km(xs)
    torch.testing.assert_close(by_pos, by_kw, rtol=0, atol=0)
    expected = km.layer("rnn")(xs, mask=m)
    torch.testing.assert_close(by_kw, expected, rtol=0, atol=0)
    assert not torch.allclose(by_kw[1], unmasked[1])


def test_forward_exporters_bind(two_inputs, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    _, km, (a, b) = two_inputs
    ref = [t.detach().numpy() for t in km(a, b)]
    program = torch.export.export(km, (a, b))
    assert [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"] == ["a", "b"]
    for x, y in zip(program.module()(a, b), ref):
        np.testing.assert_allclose(x.detach().numpy(), y, rtol=1e-6, atol=1e-6)
    torch.onnx.export(km, (a, b), str(tmp_path / "m.onnx"), dynamo=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    feeds = dict(zip([i.name for i in session.get_inputs()], [a.numpy(), b.numpy()]))
    for x, y in zip(session.run(None, feeds), ref):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_pickle_keeps_signature(keras3, tmp_path, rng):
    """A loaded 2-input model pickles (nothing is stored for the signature) and keeps it."""
    L = keras3.layers
    a, b = keras3.Input((4, 3), name="first input"), keras3.Input((4, 3), name="second")
    model = keras3.Model([a, b], [L.Add(name="sum")([a, b]), L.Concatenate(name="cat")([a, b])])
    model.save(tmp_path / "p.keras")
    km = kt.load_model(tmp_path / "p.keras")
    x, y = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    back = pickle.loads(pickle.dumps(km))
    assert "forward" not in back.__dict__
    assert list(inspect.signature(back.forward).parameters) == ["first_input", "second", "mask"]
    for p, q in zip(back(x, y), km(x, y)):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    torch.testing.assert_close(back(x, y)[0], x + y, rtol=0, atol=0)


# ---- command line --------------------------------------------------------------------------------


def _cli(*args, cwd=None):
    exe = shutil.which("keraslike-torch")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "keraslike_torch", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_cli_convert_verify_and_run(keras3, tmp_path, rng):
    model = sink_models(keras3)["tokens"]
    randomize(model, rng)
    model.save(tmp_path / "tok.keras")
    out = _cli("convert", str(tmp_path / "tok.keras"), str(tmp_path / "conv"), "--verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verify: OK" in out.stdout
    assert (tmp_path / "conv" / "model.safetensors").exists()
    code = (tmp_path / "conv" / "model.py").read_text()
    assert "kt.Bidirectional(" in code and "keraslike_torch" in code
    # the generated module runs in a fresh interpreter, without the Keras file
    x = inputs_for("tokens", rng)[0]
    np.save(tmp_path / "x.npy", x)
    script = ("import sys, numpy as np, torch; sys.path.insert(0, 'conv'); from model import load; "
              "y = load()(torch.from_numpy(np.load('x.npy'))); "
              "np.save('y0.npy', y[0].detach().numpy()); np.save('y1.npy', y[1].detach().numpy())")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    ref = model(x)
    report = kt.testing.compare_outputs(list(ref), [np.load(tmp_path / "y0.npy"), np.load(tmp_path / "y1.npy")])
    assert report.ok, str(report)


def test_readme_example_runs(tf, tmp_path):
    """README's first commands: convert the bundled example (--verify) and run it."""
    out = _cli("convert", str(EXAMPLE), str(tmp_path / "example"), "--verify")
    assert out.returncode == 0 and "verify: OK" in out.stdout, out.stdout + out.stderr
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "run_converted.py"), str(tmp_path / "example")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "FirstEqualsLast (Keras model 'first_equals_last') with 3,314 parameters" in run.stdout
    km = kt.load_model(EXAMPLE).eval()
    ids = torch.from_numpy(np.load(EXAMPLE.parent / "first_equals_last_inputs.npy")).long()
    probs = km(ids)[:, 1].tolist()
    printed = [float(line.split()[-1]) for line in run.stdout.splitlines()[2:]]
    np.testing.assert_allclose(printed, probs, atol=5e-4)


class _Plus(torch.nn.Module):  # a module-level replacement layer: importable by generated code
    def __init__(self, amount: float = 1.0, name: str | None = None) -> None:
        super().__init__()
        self.amount, self.name = amount, name

    def forward(self, x):
        return x + self.amount

    def get_config(self):
        return {"amount": self.amount, "name": self.name}


def test_replacement_layers_written_or_refused(tfk, tmp_path, rng):
    """custom_objects replacements: an importable class with get_config() is imported and built
    by the generated code; one without get_config(), or a local class, is refused by name."""
    x = tfk.Input((4, 3), name="x")
    model = tfk.Model(x, tfk.layers.LSTM(2, name="rnn")(tfk.layers.Lambda(lambda t: t + 1.0, name="plus")(x)))
    randomize(model, rng)
    model.save(tmp_path / "lam.h5")
    km = kt.load_model(tmp_path / "lam.h5", custom_objects={"plus": _Plus(1.0, "plus")})
    gen, code = convert(km, tmp_path / "ok")
    assert "import test_codegen" in code and "self.plus = test_codegen._Plus(name='plus')" in code
    assert_same(km, gen, [rng.standard_normal((2, 4, 3)).astype("float32")])
    kt.testing.assert_keras_parity(model, gen, rng.standard_normal((2, 4, 3)).astype("float32"))

    class Local(_Plus):
        pass

    km = kt.load_model(tmp_path / "lam.h5", custom_objects={"plus": Local(1.0, "plus")})
    with pytest.raises(TypeError, match=r"layer class '.*Local' of module 'test_codegen' cannot be imported"):
        save_converted(km, tmp_path / "local")
    km = kt.load_model(tmp_path / "lam.h5", custom_objects={"plus": torch.nn.Identity()})
    with pytest.raises(TypeError, match=r"\(Identity\) has no get_config\(\)"):
        save_converted(km, tmp_path / "identity")


_CODE_0_1 = """
import torch
from keraslike_torch.keras_layers import conv, core


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = conv.Conv1D(filters=2, kernel_size=3, padding="same", input_size=4)
        self.pool = conv.GlobalAveragePooling1D()
        self.dense = core.Dense(units=3, activation="tanh", input_size=2)

    def forward(self, x):
        return self.dense(self.pool(self.conv(x)))
"""


def test_code_written_by_0_1_still_builds_the_same_classes(tmp_path):
    """0.1's generated code imported ``keras_layers.core``/``conv`` and called ``core.Dense(...)``:
    it still runs and builds the classes of :mod:`keraslike_torch.layers`; 0.1 pickles (classes
    recorded under ``keraslike_torch.keras_layers.core``) still load."""
    from keraslike_torch import layers
    from keraslike_torch.keras_layers import conv, core

    for mod in (core, conv):
        exported = [n for n in dir(mod) if isinstance(getattr(mod, n), type)]
        assert exported and all(getattr(mod, n) is getattr(layers, n) for n in exported)
    path = tmp_path / "model_0_1.py"
    path.write_text(_CODE_0_1)
    spec = importlib.util.spec_from_file_location("model_0_1", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    old = module.Model()
    assert [type(m) for m in (old.conv, old.pool, old.dense)] == [
        layers.Conv1D, layers.GlobalAveragePooling1D, layers.Dense]
    new = torch.nn.Sequential(layers.Conv1D(2, 3, padding="same", input_size=4),
                              layers.GlobalAveragePooling1D(), layers.Dense(3, activation="tanh", input_size=2))
    new.load_state_dict({k.replace("conv.", "0.").replace("dense.", "2."): v for k, v in old.state_dict().items()})
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(old(x), new(x), rtol=0, atol=0)
    # a 0.1 pickle names the class by its 0.1 module
    dense = layers.Dense(3, input_size=2)
    try:
        layers.Dense.__module__ = "keraslike_torch.keras_layers.core"
        data = pickle.dumps(dense)
    finally:
        layers.Dense.__module__ = "keraslike_torch.layers.core"
    assert b"keraslike_torch.keras_layers.core" in data
    back = pickle.loads(data)
    assert type(back) is layers.Dense
    torch.testing.assert_close(back(torch.ones(1, 2)), dense(torch.ones(1, 2)), rtol=0, atol=0)
