"""PyTorch-ecosystem conformance: every layer path through every tool, numbers compared with eager.

Each case builds one configuration (a *path*: which kernel and mask handling computes it), runs it
eagerly on NEW inputs and mask patterns (not the ones a tool saw while tracing or exporting), and
requires the tool's result to equal eager's. A tool that cannot compute a path correctly must
raise a clear error naming the route that works: never a silently wrong number.

The README's "PyTorch ecosystem" table is measured by this file.
"""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import keraslike_torch as kt

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "models" / "first_equals_last.h5"
T = 6  # time steps of the layer paths (the loaded example model has a fixed 12)
F, U = 3, 5

# masks in (B, T) form: the pattern a tool sees when tracing, and new ones it must handle
PRE = [[0, 0, 1, 1, 1, 1], [1] * 6, [0, 0, 0, 0, 0, 1]]
POST = [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0], [1] * 6, [1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]]
HOLES = [[1, 0, 1, 0, 1, 1], [0] * 6, [0, 1, 1, 0, 0, 1], [1, 1, 0, 1, 1, 0], [1] * 6]


def _mask(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.bool)


class Call(nn.Module):
    """``layer(x, mask=mask)`` with a positional mask, outputs flattened to a tuple (exporters
    want plain positional tensor inputs and outputs)."""

    def __init__(self, layer: nn.Module, masked: bool) -> None:
        super().__init__()
        self.layer = layer
        self.masked = masked

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        out = self.layer(x, mask=mask) if self.masked else self.layer(x)
        return _flat(out)


def _flat(out: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(out, torch.Tensor):
        return (out,)
    return tuple(t for o in out for t in _flat(o))


@dataclass
class Path_:
    name: str
    make: Callable[[], nn.Module]  # a fresh module (same weights every time: seeded)
    masked: bool = False
    loaded: bool = False

    def module(self) -> nn.Module:
        torch.manual_seed(0)
        m = self.make()
        if not self.loaded:
            m = Call(m, self.masked)
        return m.eval()

    def inputs(self, batch: int, mask_rows: list[list[int]] | None = None, seed: int = 1) -> tuple:
        g = torch.Generator().manual_seed(seed)
        if self.loaded:
            ids = torch.randint(1, 6, (batch, 12), generator=g)
            rows = mask_rows or PRE
            m = torch.tensor([[v for v in r for _ in (0, 1)] for r in (rows * batch)[:batch]], dtype=torch.bool)
            return (ids * m,)  # id 0 = padding: Embedding(mask_zero=True) makes the mask
        x = torch.randn(batch, T, F, generator=g)
        if not self.masked:
            return (x,)
        rows = mask_rows or PRE
        return (x, _mask((rows * batch)[:batch]))


def _layer(kind: str, **kw: Any) -> Callable[[], nn.Module]:
    defaults = dict(input_size=F, return_sequences=True, return_state=True, bias_initializer="random_normal")
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        return lambda: getattr(kt, kind)(U, **{**defaults, **kw})
    raise ValueError(kind)


def _bidirectional(merge_mode: str | None = "concat", **kw: Any) -> Callable[[], nn.Module]:
    return lambda: kt.Bidirectional(
        kt.LSTM(U, input_size=F, return_sequences=True, bias_initializer="random_normal", **kw),
        merge_mode=merge_mode,
    )


PATHS = [
    Path_("fused_lstm", _layer("LSTM")),
    Path_("fused_gru", _layer("GRU")),
    Path_("fused_simplernn", _layer("SimpleRNN")),
    Path_("hard_sigmoid_lstm", _layer("LSTM", recurrent_activation="hard_sigmoid_keras2")),
    Path_("gru_reset_before", _layer("GRU", reset_after=False)),
    Path_("simplernn_softsign", _layer("SimpleRNN", activation="softsign")),
    Path_("go_backwards_lstm", _layer("LSTM", go_backwards=True)),
    Path_("bidirectional", _bidirectional()),
    Path_("bidirectional_hard_sigmoid", _bidirectional("sum", recurrent_activation="hard_sigmoid")),
    Path_("masked_fused_lstm", _layer("LSTM"), masked=True),
    Path_("masked_hard_sigmoid_lstm", _layer("LSTM", recurrent_activation="hard_sigmoid_keras2"), masked=True),
    Path_("masked_gru", _layer("GRU"), masked=True),
    Path_("masked_bidirectional", _bidirectional(), masked=True),
    Path_("loaded_model", lambda: kt.load_model(EXAMPLE), loaded=True),
]
IDS = [p.name for p in PATHS]
NEW_MASKS = [POST, HOLES]


def _close(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    fa, fb = _flat(a), _flat(b)
    assert len(fa) == len(fb), f"{len(fa)} outputs vs {len(fb)}"
    for x, y in zip(fa, fb):
        torch.testing.assert_close(x.detach().float(), y.detach().float(), rtol=rtol, atol=atol)


def _new_cases(path: Path_) -> list[tuple]:
    """New inputs for a tool to get right: another batch size, and every new mask pattern."""
    if not path.masked and not path.loaded:
        return [path.inputs(5, seed=2), path.inputs(2, seed=3)]
    return [path.inputs(5, rows, seed=2 + i) for i, rows in enumerate(NEW_MASKS)]


def _check_new_inputs(path: Path_, eager: nn.Module, other: Callable[..., Any], **tol: float) -> None:
    for args in _new_cases(path):
        with torch.no_grad():
            _close(other(*args), eager(*args), **tol)


# ---- save, copy, build ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=IDS)
@pytest.mark.parametrize("tool", ["pickle", "deepcopy", "torch.save"])
def test_round_trips(path: Path_, tool: str) -> None:
    m = path.module()
    if tool == "pickle":
        m2 = pickle.loads(pickle.dumps(m))
    elif tool == "deepcopy":
        m2 = copy.deepcopy(m)
    else:
        buf = io.BytesIO()
        torch.save(m, buf)
        buf.seek(0)
        m2 = torch.load(buf, weights_only=False)
    assert not m2.training
    _check_new_inputs(path, m, m2, rtol=0, atol=0)


@pytest.mark.parametrize("path", [p for p in PATHS if not p.loaded], ids=[p.name for p in PATHS if not p.loaded])
def test_meta_device_to_empty_load_state_dict(path: Path_) -> None:
    m = path.module()
    with torch.device("meta"):
        meta = path.module()
    built = meta.to_empty(device="cpu")
    built.load_state_dict(m.state_dict())
    _check_new_inputs(path, m, built.eval(), rtol=0, atol=0)


def test_meta_device_loaded_model() -> None:
    m = kt.load_model(EXAMPLE)
    with torch.device("meta"):
        meta = kt.load_model(EXAMPLE)
    meta.to_empty(device="cpu").load_state_dict(m.state_dict())
    path = PATHS[-1]
    _check_new_inputs(path, m, meta.eval(), rtol=0, atol=0)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_inference_mode_then_training(path: Path_) -> None:
    m, fresh = path.module(), path.module()
    with torch.inference_mode():
        m(*path.inputs(3))
    args = path.inputs(4, POST, seed=5)
    for module in (m, fresh):
        module.train()
        sum(o.float().sum() for o in _flat(module(*args))).backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    for n, p in fresh.named_parameters():
        assert grads[n] is not None, n
        torch.testing.assert_close(grads[n], p.grad, rtol=0, atol=0)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_first_call_under_inference_mode_builds_trainable_weights(path: Path_) -> None:
    if path.loaded:
        pytest.skip("a loaded model is built by its file")
    unbuilt = Path_(path.name, lambda: _unbuilt(path.make()), path.masked).module()
    with torch.inference_mode():
        unbuilt(*path.inputs(3))
    unbuilt.train()
    loss = sum(o.sum() for o in _flat(unbuilt(*path.inputs(3))))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in unbuilt.parameters())


def _unbuilt(layer: nn.Module) -> nn.Module:
    """The same configuration with no input size (built lazily at the first call)."""
    if isinstance(layer, kt.Bidirectional):
        return kt.Bidirectional(_unbuilt(layer.forward_layer), merge_mode=layer.merge_mode)
    return layer.clone(input_size=None)


def test_state_dict_of_unbuilt_layer_like_torch_lazy_modules() -> None:
    lazy = kt.LSTM(16)
    sd = lazy.state_dict()
    torch_sd = nn.LazyLinear(4).state_dict()
    assert set(type(v) for v in torch_sd.values()) <= {nn.UninitializedParameter, nn.UninitializedBuffer}
    assert isinstance(sd["cell.weight_ih"], nn.UninitializedParameter)
    built = kt.LSTM(16, input_size=3)
    lazy.load_state_dict(built.state_dict())
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(lazy(x), built(x), rtol=0, atol=0)


# ---- precision ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_autocast_bfloat16_cpu(path: Path_) -> None:
    m = path.module()
    for args in _new_cases(path):
        with torch.no_grad():
            ref = m(*args)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = m(*args)
        # bfloat16 keeps 8 bits of mantissa: ~1e-2 relative through a few steps
        _close(low, ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_to_bfloat16(path: Path_) -> None:
    m = path.module()
    low = copy.deepcopy(m).to(torch.bfloat16)
    for args in _new_cases(path):
        low_args = tuple(a.to(torch.bfloat16) if a.is_floating_point() else a for a in args)
        with torch.no_grad():
            out = low(*low_args)
            assert all(t.dtype == torch.bfloat16 for t in _flat(out) if t.is_floating_point())
            _close(out, m(*args), rtol=0.08, atol=0.08)


# ---- compile --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_compile_forward_and_training_step(path: Path_) -> None:
    torch._dynamo.reset()
    eager, twin = path.module(), path.module()
    compiled = torch.compile(twin)
    _check_new_inputs(path, eager, compiled, rtol=1e-5, atol=1e-6)
    args = path.inputs(4, HOLES, seed=9)
    for module, run in ((eager, eager), (twin, compiled)):
        module.train()
        opt = torch.optim.SGD(module.parameters(), lr=0.1)
        sum(o.float().pow(2).sum() for o in _flat(run(*args))).backward()
        opt.step()
    for (n, a), (_, b) in zip(eager.named_parameters(), twin.named_parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=lambda s, n=n: f"{n}: {s}")


# ---- export ---------------------------------------------------------------------------------------


def _dynamic_batch(path: Path_, args: tuple) -> tuple:
    b = torch.export.Dim("batch", min=2, max=64)
    return tuple({0: b} for _ in args)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
@pytest.mark.parametrize("strict", [False, True], ids=["nonstrict", "strict"])
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_torch_export(path: Path_, strict: bool, grad: bool) -> None:
    m = path.module()
    args = path.inputs(3)
    with torch.set_grad_enabled(grad):
        ep = torch.export.export(m, args, dynamic_shapes=_dynamic_batch(path, args), strict=strict)
    _check_new_inputs(path, m, ep.module(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_onnx_dynamo_onnxruntime(path: Path_, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    m = path.module()
    args = path.inputs(3)
    with torch.no_grad():
        program = torch.onnx.export(m, args, dynamic_shapes=_dynamic_batch(path, args), dynamo=True)
    file = tmp_path / "m.onnx"
    program.save(str(file))
    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {n: t.numpy() for n, t in zip(names, a)}
        return tuple(torch.from_numpy(o) for o in session.run(None, feeds))

    _check_new_inputs(path, m, run, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_jit_trace_is_right_or_refuses(path: Path_) -> None:
    m = path.module()
    try:
        with torch.no_grad():
            traced = torch.jit.trace(m, path.inputs(3), check_trace=False)
    except Exception as e:  # a refusal must name the route that works
        assert "torch.export" in str(e) or "dynamo=True" in str(e), str(e)
        return
    _check_new_inputs(path, m, traced, rtol=1e-5, atol=1e-6)


# ---- inputs torch.nn's RNNs take -----------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p in PATHS if not p.loaded and not p.masked], ids=[
    p.name for p in PATHS if not p.loaded and not p.masked])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_is_a_post_padded_mask(path: Path_, enforce_sorted: bool) -> None:
    from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

    layer = path.module().layer
    lengths = torch.tensor([6, 4, 1, 3]) if not enforce_sorted else torch.tensor([6, 4, 3, 1])
    x = torch.randn(4, T, F)
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    if getattr(layer, "go_backwards", False):  # its sequence is in reversed order: no packed layout
        with pytest.raises(ValueError, match="go_backwards=True.*pass the padded tensor with mask="):
            layer(packed)
        return
    with torch.no_grad():
        ref = _flat(layer(x, mask=mask))
        out = layer(packed)
    seq, states = (out, ()) if isinstance(out, PackedSequence) else (out[0], out[1:])
    assert isinstance(seq, PackedSequence)
    padded, got_lengths = pad_packed_sequence(seq, batch_first=True, total_length=T)
    assert got_lengths.tolist() == lengths.tolist()
    valid = mask.unsqueeze(-1)
    torch.testing.assert_close(padded * valid, ref[0] * valid, rtol=0, atol=0)
    assert len(states) == len(ref) - 1
    for a, b in zip(states, ref[1:]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_vmap_works_or_says_so() -> None:
    layer = kt.LSTM(U, input_size=F)
    xs = torch.randn(3, 2, T, F)
    try:
        out = torch.func.vmap(layer)(xs)
    except Exception as e:
        assert "vmap" in str(e), str(e)
        return
    with torch.no_grad():
        torch.testing.assert_close(out, torch.stack([layer(x) for x in xs]))
