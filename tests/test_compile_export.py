"""torch.compile, torch.export, torch.onnx.export (dynamo and legacy) and torch.jit.trace on every
layer path, compared number for number with eager on NEW inputs: new batch sizes and mask patterns
other than the one used at export (programs are exported with a pre-padded mask, then run with
post-padded masks, masks with holes, fully masked rows and all-valid masks)."""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.export import Dim

import keraslike_torch as kt

F, U, T = 4, 5, 6
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
TOL = 1e-5


def masks(batch: int, steps: int = T, seed: int = 0) -> dict[str, torch.Tensor]:
    """Mask patterns; "pre" is the one programs are exported with."""
    g = torch.Generator().manual_seed(seed + batch)
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    lengths[0] = steps
    post = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)
    holes = torch.rand(batch, steps, generator=g) > 0.4
    holes[0, 1] = holes[0, 3] = False
    holes[1, 0] = holes[1, 2] = True
    holes[1, 1] = False
    empty = post.clone()
    empty[-1] = False  # one fully masked row
    return {"pre": post.flip(1), "post": post, "holes": holes, "empty": empty,
            "all": torch.ones(batch, steps, dtype=torch.bool)}


def _sin(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x) * 0.9


PATHS: dict[str, Callable[[], nn.Module]] = {
    "lstm_fused": lambda: kt.LSTM(U, return_sequences=True),
    "gru_fused_state": lambda: kt.GRU(U, return_sequences=True, return_state=True),
    "rnn_fused": lambda: kt.SimpleRNN(U),
    "lstm_hard_sigmoid": lambda: kt.LSTM(U, recurrent_activation="hard_sigmoid", return_sequences=True),
    "gru_reset_before": lambda: kt.GRU(U, reset_after=False, return_state=True),
    "rnn_custom_act": lambda: kt.SimpleRNN(U, activation=_sin, return_sequences=True),
    "lstm_backwards_zero": lambda: kt.LSTM(U, go_backwards=True, return_sequences=True, zero_output_for_mask=True),
    "bi_concat": lambda: kt.Bidirectional(kt.LSTM(U, return_sequences=True)),
    "bi_sum_gru": lambda: kt.Bidirectional(kt.GRU(U, return_sequences=True), merge_mode="sum"),
    "bi_mul_hs": lambda: kt.Bidirectional(kt.LSTM(U, recurrent_activation="hard_sigmoid"), merge_mode="mul"),
    "bi_ave": lambda: kt.Bidirectional(kt.SimpleRNN(U, return_sequences=True), merge_mode="ave"),
    "bi_none_state": lambda: kt.Bidirectional(kt.GRU(U, return_state=True), merge_mode=None),
}


def _flat(y) -> torch.Tensor:
    if isinstance(y, torch.Tensor):
        return y
    return torch.cat([t.reshape(t.shape[0], -1) for t in y], -1)


class Masked(nn.Module):
    """The layer with its mask as a graph input; outputs flattened into one tensor."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _flat(self.layer(x, mask=mask))


class Plain(Masked):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _flat(self.layer(x))


def make(path: str, masked: bool, dtype: torch.dtype = torch.float32) -> nn.Module:
    layer = PATHS[path]()
    layer(torch.zeros(1, 2, F))  # build
    with torch.no_grad():  # non-trivial biases
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return (Masked(layer) if masked else Plain(layer)).eval().to(dtype)


def cases(masked: bool, batches=(2, 5), dtype=torch.float32):
    """(inputs, name) pairs: new batch sizes, new data, every mask pattern."""
    for b in batches:
        x = torch.randn(b, T, F, dtype=dtype)
        if not masked:
            yield (x,), f"b{b}"
            continue
        for name, m in masks(b, seed=7).items():
            yield (x, m), f"b{b}-{name}"


def max_diff(run: Callable, model: nn.Module, masked: bool, **kw) -> float:
    worst = 0.0
    with torch.no_grad():
        for args, _ in cases(masked, **kw):
            got = run(*args)
            want = model(*args).numpy()
            worst = max(worst, float(np.abs(np.asarray(got) - want).max()))
    return worst


def example(masked: bool, dtype=torch.float32):
    x = torch.randn(3, T, F, dtype=dtype)
    return (x, masks(3)["pre"]) if masked else (x,)


def dyn_batch(masked: bool):
    b = Dim("batch")
    return {"x": {0: b}, "mask": {0: b}} if masked else {"x": {0: b}}


def ort_runner(onnx_bytes: bytes) -> Callable:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(*args: torch.Tensor) -> np.ndarray:
        assert len(names) == len(args), f"ONNX graph inputs {names} for {len(args)} tensors"
        return sess.run(None, {n: a.numpy() for n, a in zip(names, args)})[0]

    return run


# ---- torch.export ---------------------------------------------------------------------------------


# Every path in two modes (strict under no_grad, non-strict in grad mode); the two other
# combinations on one fused, one runner and one Bidirectional path.
EXPORT_CASES = [(p, s, g) for p in PATHS for s, g in ((True, False), (False, True))] + [
    (p, s, g) for p in ("lstm_fused", "lstm_hard_sigmoid", "bi_concat") for s, g in ((True, True), (False, False))
]


@pytest.mark.parametrize(("path", "strict", "grad"), EXPORT_CASES,
                         ids=[f"{p}-{'strict' if s else 'nonstrict'}-{'grad' if g else 'no_grad'}"
                              for p, s, g in EXPORT_CASES])
@pytest.mark.parametrize("masked", [True, False], ids=["mask", "nomask"])
def test_export(path: str, masked: bool, strict: bool, grad: bool) -> None:
    model = make(path, masked)
    with torch.set_grad_enabled(grad):
        ep = torch.export.export(model, example(masked), strict=strict, dynamic_shapes=dyn_batch(masked))
    exported = ep.module()
    assert max_diff(lambda *a: exported(*a).numpy(), model, masked) < TOL


def test_export_float64_masked_runner() -> None:
    model = make("lstm_hard_sigmoid", True, torch.float64)
    ep = torch.export.export(model, example(True, torch.float64), dynamic_shapes=dyn_batch(True))
    assert max_diff(lambda *a: ep.module()(*a).numpy(), model, True, dtype=torch.float64) < 1e-12


@pytest.mark.parametrize("path", ["lstm_fused", "lstm_hard_sigmoid", "bi_concat"])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "nonstrict"])
def test_export_dynamic_time_is_a_clear_error(path: str, strict: bool) -> None:
    model = make(path, False)
    with pytest.raises(Exception, match="time dimension cannot be dynamic.*fixed time length"):
        torch.export.export(model, example(False), strict=strict, dynamic_shapes={"x": {1: Dim("time")}})


def test_export_mask_values_are_a_graph_input() -> None:
    """The exported graph reads the mask: flipping it changes the output exactly as in eager."""
    model = make("lstm_fused", True)
    ep = torch.export.export(model, example(True))
    x, pre = example(True)
    for m in (pre, ~pre | torch.eye(3, T, dtype=torch.bool), torch.zeros_like(pre)):
        with torch.no_grad():
            np.testing.assert_allclose(ep.module()(x, m).numpy(), model(x, m).numpy(), atol=TOL)


# ---- torch.onnx.export(dynamo=True) + onnxruntime --------------------------------------------------


def onnx_dynamo(model: nn.Module, args, dynamic_shapes) -> Callable:
    pytest.importorskip("onnxscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(model, args, dynamo=True, dynamic_shapes=dynamic_shapes, verbose=False)
    return ort_runner(prog.model_proto.SerializeToString())


ONNX_PATHS = ["lstm_fused", "gru_fused_state", "rnn_fused", "lstm_hard_sigmoid", "gru_reset_before",
              "lstm_backwards_zero", "bi_concat", "bi_none_state"]


@pytest.mark.parametrize("path", ONNX_PATHS)
@pytest.mark.parametrize("masked", [True, False], ids=["mask", "nomask"])
def test_onnx_dynamo(path: str, masked: bool) -> None:
    model = make(path, masked)
    run = onnx_dynamo(model, example(masked), dyn_batch(masked))
    assert max_diff(run, model, masked) < TOL


# ---- legacy tracers: torch.jit.trace and torch.onnx.export(dynamo=False) -----------------------------


def jit_trace(model: nn.Module, args) -> Callable:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, args)
    return lambda *a: traced(*a).numpy()


def onnx_legacy(model: nn.Module, args, masked: bool, dynamic_time: bool = False) -> Callable:
    pytest.importorskip("onnx")
    names = ["x", "mask"] if masked else ["x"]
    axes = {0: "batch", 1: "time"} if dynamic_time else {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, buf, dynamo=False, input_names=names,
                          dynamic_axes={n: axes for n in names})
    return ort_runner(buf.getvalue())


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("masked", [True, False], ids=["mask", "nomask"])
@pytest.mark.parametrize("tool", ["jit", "onnx_legacy"])
def test_legacy(path: str, masked: bool, tool: str) -> None:
    model = make(path, masked)
    args = example(masked)
    run = jit_trace(model, args) if tool == "jit" else onnx_legacy(model, args, masked)
    assert max_diff(run, model, masked) < TOL


@pytest.mark.parametrize("path", ["lstm_fused", "lstm_hard_sigmoid", "bi_concat"])
@pytest.mark.parametrize("tool", ["jit", "onnx_legacy"])
def test_legacy_new_time_length_is_right_or_refused(path: str, tool: str) -> None:
    """A traced program run with another time length either computes it right or fails: never a
    silently truncated or padded recurrence (ONNX: even with the time axis declared dynamic)."""
    for masked in (True, False):
        model = make(path, masked)
        args = example(masked)
        run = jit_trace(model, args) if tool == "jit" else onnx_legacy(model, args, masked, dynamic_time=True)
        x = torch.randn(3, T + 3, F)
        new = (x, masks(3, T + 3)["holes"]) if masked else (x,)
        try:
            got = run(*new)
        except Exception:
            continue  # refused
        with torch.no_grad():
            np.testing.assert_allclose(got, model(*new).numpy(), atol=TOL)


# ---- stateful layers --------------------------------------------------------------------------------


class Carry(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x, mask, h, c):
        return self.layer(x, mask=mask, initial_state=[h, c])


def test_stateful_export_takes_states_explicitly() -> None:
    """An exported stateful layer cannot keep states: the program takes them as inputs and returns
    the new ones (return_state=True); the layer's stored states are left alone while exporting."""
    layer = kt.LSTM(U, stateful=True, return_state=True, return_sequences=True)
    layer(torch.zeros(3, T, F))
    stored = tuple(s.clone() for s in layer.states)
    model = Carry(layer).eval()
    h0 = torch.randn(3, U)
    x, m = example(True)
    ep = torch.export.export(model, (x, m, h0, h0.clone()), dynamic_shapes=None)
    for s, s0 in zip(layer.states, stored):
        assert torch.equal(s, s0)
    x2, m2 = torch.randn(3, T, F), masks(3)["holes"]
    h, c = torch.randn(3, U), torch.randn(3, U)
    got = ep.module()(x2, m2, h, c)
    want = model(x2, m2, h, c)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=TOL)


@pytest.mark.parametrize("tool", ["export", "jit"])
def test_stateful_implicit_states_are_a_clear_error(tool: str) -> None:
    layer = kt.GRU(U, stateful=True)
    layer(torch.zeros(3, T, F))
    model = Plain(layer).eval()
    with pytest.raises(Exception, match="stateful GRU.*initial_state"):
        if tool == "export":
            torch.export.export(model, example(False))
        else:
            jit_trace(model, example(False))


# ---- loaded models ----------------------------------------------------------------------------------


class Ids(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)


def token_cases(steps: int):
    for b in (2, 5):
        g = torch.Generator().manual_seed(b)
        ids = torch.randint(1, 6, (b, steps), generator=g)
        ids[0, :3] = 0  # pre-padded
        ids[1, -4:] = 0  # post-padded
        ids[-1, ::2] = 0  # holes
        if b > 2:
            ids[2] = 0  # fully masked
        yield ids


@pytest.fixture(scope="module")
def first_equals_last() -> nn.Module:
    return Ids(kt.load_model(EXAMPLES / "first_equals_last.h5")).eval()


def _model_diff(run: Callable, model: nn.Module) -> float:
    worst = 0.0
    with torch.no_grad():
        for ids in token_cases(12):
            worst = max(worst, float(np.abs(np.asarray(run(ids)) - model(ids).numpy()).max()))
    return worst


@pytest.mark.parametrize("tool", ["export_strict", "export", "onnx_dynamo", "jit", "onnx_legacy"])
def test_loaded_h5_model(first_equals_last: nn.Module, tool: str) -> None:
    """Embedding(mask_zero=True) + Bidirectional LSTM (hard_sigmoid, runner) + Dense."""
    model = first_equals_last
    ids = torch.as_tensor(np.load(EXAMPLES / "first_equals_last_inputs.npy")[:3]).long()
    dyn = {"tokens": {0: Dim("batch")}}
    if tool.startswith("export"):
        ep = torch.export.export(model, (ids,), strict=tool == "export_strict", dynamic_shapes=dyn)
        run = lambda a: ep.module()(a).numpy()  # noqa: E731
    elif tool == "onnx_dynamo":
        run = onnx_dynamo(model, (ids,), dyn)
    elif tool == "jit":
        run = jit_trace(model, (ids,))
    else:
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (ids,), buf, dynamo=False, input_names=["tokens"],
                              dynamic_axes={"tokens": {0: "batch"}})
        run = ort_runner(buf.getvalue())
    assert _model_diff(run, model) < TOL


@pytest.fixture(scope="module")
def masking_model(tmp_path_factory):
    from conftest import require_module

    require_module("tensorflow")
    keras = require_module("keras")
    L = keras.layers
    x = keras.Input((T, F), name="x")
    m = L.Masking(0.0)(x)
    y = L.LSTM(5, return_sequences=True)(m)
    y = L.GRU(4, reset_after=False)(y)
    out = L.Dense(2)(y)
    path = tmp_path_factory.mktemp("k3") / "masking.keras"
    keras.Model(x, out).save(path)
    return Ids(kt.load_model(path)).eval()


def masking_inputs(b: int) -> torch.Tensor:
    x = torch.randn(b, T, F)
    m = masks(b, seed=3)["holes"]
    m[-1] = False
    return x * m.unsqueeze(-1)


@pytest.mark.parametrize("tool", ["export", "onnx_dynamo", "jit"])
def test_loaded_keras3_masking_model(masking_model: nn.Module, tool: str) -> None:
    model = masking_model
    x = torch.randn(3, T, F)
    x[:, :2] = 0.0  # exported with pre-padding
    dyn = {"tokens": {0: Dim("batch")}}
    if tool == "export":
        ep = torch.export.export(model, (x,), dynamic_shapes=dyn)
        run = lambda a: ep.module()(a).numpy()  # noqa: E731
    elif tool == "onnx_dynamo":
        run = onnx_dynamo(model, (x,), dyn)
    else:
        run = jit_trace(model, (x,))
    with torch.no_grad():
        for b in (2, 5):
            new = masking_inputs(b)
            np.testing.assert_allclose(run(new), model(new).numpy(), atol=TOL)


# ---- torch.compile ----------------------------------------------------------------------------------


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, args) -> torch.Tensor:
    opt.zero_grad()
    loss = model(*args).square().mean()
    loss.backward()
    opt.step()
    return loss.detach()


COMPILE_PATHS = ["lstm_fused", "lstm_hard_sigmoid", "bi_concat", "rnn_custom_act"]


@pytest.mark.parametrize("path", COMPILE_PATHS)
def test_compile_forward_and_training_step(path: str) -> None:
    """Forward and training steps (backward + optimizer) of the compiled module equal eager's, with
    and without masks (the recurrence runs eagerly behind a graph break, see tracing.py)."""
    torch._dynamo.reset()
    eager = make(path, True).train()
    comp_model = copy.deepcopy(eager)
    compiled = torch.compile(comp_model)
    opt_e = torch.optim.Adam(eager.parameters(), lr=1e-2)
    opt_c = torch.optim.Adam(comp_model.parameters(), lr=1e-2)
    for args, _ in cases(True, batches=(3,)):
        with torch.no_grad():
            np.testing.assert_allclose(compiled(*args).numpy(), eager(*args).numpy(), atol=TOL)
        le, lc = _train_step(eager, opt_e, args), _train_step(compiled, opt_c, args)
        assert abs(float(le - lc)) < TOL
    for pe, pc in zip(eager.parameters(), comp_model.parameters()):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), atol=1e-5)


def test_compile_loaded_model(first_equals_last: nn.Module) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(first_equals_last)
    with torch.no_grad():
        for ids in token_cases(12):
            np.testing.assert_allclose(compiled(ids).numpy(), first_equals_last(ids).numpy(), atol=TOL)


def test_compile_stateful_keeps_states() -> None:
    """Under torch.compile the layer runs eagerly, so a stateful layer carries its states."""
    torch._dynamo.reset()
    a = kt.LSTM(U, stateful=True)
    a(torch.zeros(2, T, F))
    a.reset_states()
    b = copy.deepcopy(a)
    compiled = torch.compile(b)
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(2, T, F)
            np.testing.assert_allclose(compiled(x).numpy(), a(x).numpy(), atol=TOL)
    np.testing.assert_allclose(b.states[1].numpy(), a.states[1].numpy(), atol=TOL)


def test_compile_fullgraph_error_names_the_routes() -> None:
    torch._dynamo.reset()
    layer = kt.LSTM(U, input_size=F)
    with pytest.raises(Exception, match="fullgraph=False.*torch.export"):
        torch.compile(layer, fullgraph=True)(torch.randn(2, T, F))


def test_out_of_range_ids_still_fail(first_equals_last: nn.Module) -> None:
    """Compiled: Embedding's id check runs (behind a graph break). Exported: no value check in the
    graph, but the lookup itself fails (never a silent row)."""
    torch._dynamo.reset()
    bad = torch.full((2, 12), 1)
    bad[1, 5] = 9  # vocabulary is 6
    with pytest.raises(ValueError, match="outside"):
        torch.compile(first_equals_last)(bad)
    ep = torch.export.export(first_equals_last, (torch.ones(2, 12, dtype=torch.long),))
    with pytest.raises(Exception, match="index out of range"):
        ep.module()(bad)
