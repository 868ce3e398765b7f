"""The recurrent families share one keyword list (the cell class's): their constructors still show
and check full signatures, match Keras's keyword names, round-trip get_config, and build the
same numbers as Keras; the converter registry sits below the layers it registers."""

from __future__ import annotations

import ast
import inspect
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn, generation

import keraslike_torch as kt
from keraslike_torch.recurrent import GRUCell, LSTMCell, SimpleRNNCell
from keraslike_torch.tools.codewriter import non_default

FAMILIES = {"LSTM": (kt.LSTM, LSTMCell), "GRU": (kt.GRU, GRUCell), "SimpleRNN": (kt.SimpleRNN, SimpleRNNCell)}
# Keras keywords that change no computation we reproduce (training terms, backend choice)
_KERAS_ONLY = {"seed", "use_cudnn", "kwargs"}


def _params(cls):
    return inspect.signature(cls).parameters


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_signature_is_cell_plus_layer_keywords(kind):
    layer_cls, cell_cls = FAMILIES[kind]
    params = _params(layer_cls)
    assert list(params)[:2] == ["units", "input_size"]
    assert params["units"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    cell_names = [p.name for p in cell_cls.keyword_parameters()]
    assert set(cell_names) <= set(params)
    assert list(params)[-4:] == ["keras_version", "name", "device", "dtype"]
    for p in cell_cls.keyword_parameters():
        assert params[p.name].default == p.default
    if kind == "SimpleRNN":
        assert "recurrent_activation" not in params and "implementation" not in params
    else:
        assert params["recurrent_activation"].default == "sigmoid" and params["implementation"].default == 2
    assert ("unit_forget_bias" in params) == (kind == "LSTM")
    assert ("reset_after" in params) == (kind == "GRU")


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_keras_keywords_present(kind, K):
    """Every Keras constructor keyword that affects the computation is one of ours, same default."""
    ours = _params(FAMILIES[kind][0])
    theirs = inspect.signature(getattr(K.layers, kind)).parameters
    for name, p in theirs.items():
        if name in _KERAS_ONLY or name.endswith(("_regularizer", "_constraint")):
            continue
        assert name in ours, name
        if p.default is not inspect.Parameter.empty and isinstance(p.default, (str, bool, int, float)):
            assert ours[name].default == p.default, name


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_unknown_and_omitted_keywords_raise(kind):
    layer_cls, _ = FAMILIES[kind]
    with pytest.raises(TypeError, match=rf"^{layer_cls.__name__}\(\): got an unexpected keyword argument 'bogus'"):
        layer_cls(3, bogus=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'cell'"):
        layer_cls(3, cell=None)
    if kind == "SimpleRNN":
        for key in ("implementation", "recurrent_activation"):
            with pytest.raises(TypeError, match=f"unexpected keyword argument '{key}'"):
                layer_cls(3, **{key: 1})
        with pytest.raises(TypeError, match="unexpected keyword argument 'recurrent_activation'"):
            SimpleRNNCell(3, recurrent_activation="relu")


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_config_round_trip_and_codegen_defaults(kind):
    layer_cls, _ = FAMILIES[kind]
    extra = {"LSTM": {"unit_forget_bias": False}, "GRU": {"reset_after": False}, "SimpleRNN": {}}[kind]
    kw = dict(units=3, input_size=2, activation="relu", use_bias=False, return_sequences=True,
              go_backwards=True, dropout=0.25, zero_output_for_mask=True, name="r", dtype=torch.float64, **extra)
    m = layer_cls(**kw)
    assert m.get_config() == kw
    again = type(m)(**m.get_config())
    assert again.get_config() == kw and again.cell.input_size == 2 and again.cell.weight_hh.dtype == torch.float64
    for key, value in extra.items():
        assert getattr(m.cell, key) is value
    back = pickle.loads(pickle.dumps(m))
    assert type(back) is layer_cls and back.get_config() == kw
    nd = non_default(layer_cls, {"units": 3, "activation": "tanh", "use_bias": True, "return_state": True})
    assert nd == {"units": 3, "return_state": True}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", list(FAMILIES))
def test_family_keywords_reach_the_cell_keras_parity(kind, dtype, K, rng):
    """Cell keywords given to the layer (activation, use_bias, reset_after) compute as Keras does."""
    kw = {"activation": "relu", "use_bias": False}
    if kind == "GRU":
        kw["reset_after"] = generation(K) == 3
    if kind != "SimpleRNN":
        kw["recurrent_activation"] = "tanh"
    keras_layer = build_keras_rnn(K, kind, 4, 3, dtype, rng, return_sequences=True, **kw)
    ours = FAMILIES[kind][0](4, return_sequences=True, keras_version=generation(K),
                             dtype=getattr(torch, dtype), **kw)
    ours.set_keras_weights(keras_layer.get_weights())
    x = rng.standard_normal((2, 5, 3)).astype(dtype)
    want = np.asarray(keras_layer(x))
    got = ours(torch.from_numpy(x)).detach().numpy()
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_registry_imports_no_layers():
    """porting/registry.py is below everything that registers: it imports no layer package."""
    src = Path(kt.__file__).parent / "porting" / "registry.py"
    imported = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert not {m for m in imported if m.startswith(("..recurrent", "..layers", "..keras_layers"))}
    recurrent = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "Bidirectional"}
    assert recurrent <= set(kt.converters.converter_names())


def test_recurrent_modules_under_500_lines():
    for path in (Path(kt.__file__).parent / "recurrent").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 500, path.name
