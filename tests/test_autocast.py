"""torch.autocast and .to(bfloat16/float16) on every layer path.

The precision model is torch.nn.LSTM's: under autocast its output is bit for bit that of the
module cast with ``.to(autocast dtype)``. Every path here (fused kernels, the masked fused path,
the sequence runner, Bidirectional, stateful layers, a loaded Keras model) is checked for: output
dtype, bitwise equality with the cast layer, error against a float64 reference bounded by what the
fused kernel (torch's own) shows at the same shape, masks against the unmasked computation of the
valid steps (bitwise), and gradients against float32 ones.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import keraslike_torch as kt

BF16, FP16 = torch.bfloat16, torch.float16
LOW = [BF16, FP16]
B, T, F, U = 6, 12, 8, 16
SEQ = {"return_sequences": True, "return_state": True}
# relative gradient error vs float32 (bf16 eps 2^-8, fp16 eps 2^-11; measured 0.005-0.011 / 0.001-0.0014)
GRAD_BOUND = {BF16: 0.03, FP16: 0.005}

RUNNER = {
    "lstm_hard_sigmoid": lambda **kw: kt.LSTM(U, recurrent_activation="hard_sigmoid", **kw),
    "lstm_hard_sigmoid_keras2": lambda **kw: kt.LSTM(U, recurrent_activation="hard_sigmoid_keras2", **kw),
    "gru_reset_before": lambda **kw: kt.GRU(U, reset_after=False, **kw),
    "simplernn_softsign": lambda **kw: kt.SimpleRNN(U, activation="softsign", **kw),
}
FUSED = {
    "lstm": lambda **kw: kt.LSTM(U, **kw),
    "gru": lambda **kw: kt.GRU(U, **kw),
    "simplernn_tanh": lambda **kw: kt.SimpleRNN(U, **kw),
    "simplernn_relu": lambda **kw: kt.SimpleRNN(U, activation="relu", **kw),
}
ALL = {**RUNNER, **FUSED}


def _layer(kind: str, features: int = F, batch: int = 1, **kw):
    layer = ALL[kind](**{**SEQ, **kw})
    layer(torch.zeros(batch, 1, features))  # build (Keras initial weights, seeded by conftest)
    assert (layer.cell.fused_mode() is None) == (kind in RUNNER)  # the path under test
    return layer


def _call(layer, x, dtype=None, **kw):
    """The layer's outputs as a tuple; under autocast(dtype) when dtype is given."""
    with torch.autocast(x.device.type, dtype=dtype or BF16, enabled=dtype is not None):
        out = layer(x, **kw)
    return out if isinstance(out, tuple) else (out,)


def _cast_call(layer, x, dtype, **kw):
    """The same call on a copy of the layer cast with .to(dtype)."""
    return _call(copy.deepcopy(layer).to(dtype), x.to(dtype), **kw)


def _err64(layer, x, outs, **kw):
    ref = _call(copy.deepcopy(layer).double(), x.double(), **kw)
    return max(float((o.detach().double() - r.detach()).abs().max()) for o, r in zip(outs, ref))


def _equal(a: tuple, b: tuple) -> None:
    assert len(a) == len(b)
    for i, (p, q) in enumerate(zip(a, b)):
        assert p.dtype == q.dtype, (i, p.dtype, q.dtype)
        assert torch.equal(p, q), (i, float((p.float() - q.float()).abs().max()))


# ---- the model, measured on torch itself ------------------------------------------------------


def test_torch_lstm_autocast_is_the_cast_module():
    """What the model is taken from: nn.LSTM / nn.RNN under CPU bf16 autocast return the autocast
    dtype, bit for bit what the module cast .to(bfloat16) returns."""
    x = torch.randn(B, T, F)
    for cls in (torch.nn.LSTM, torch.nn.RNN):
        m = cls(F, U, batch_first=True)
        try:
            with torch.autocast("cpu", dtype=BF16):
                y, s = m(x)
        except RuntimeError as e:
            assert cls is torch.nn.LSTM and _onednn_lacks_low_precision_lstm(e), e
            continue
        yc, sc = copy.deepcopy(m).to(BF16)(x.to(BF16))
        assert y.dtype == BF16 and torch.equal(y, yc)
        s, sc = (s, sc) if isinstance(s, tuple) else ((s,), (sc,))
        _equal(s, sc)


# ---- (a) fused paths against torch's modules ---------------------------------------------------


def _torch_twin(layer, bidirectional=None):
    """torch.nn.LSTM/GRU/RNN holding ``layer``'s weights (a Bidirectional's two directions)."""
    layers = [layer] if bidirectional is None else [bidirectional.forward_layer, bidirectional.backward_layer]
    cell = layers[0].cell
    mode = cell.fused_mode()
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}.get(mode, torch.nn.RNN)
    kw = {} if cls is not torch.nn.RNN else {"nonlinearity": "tanh" if mode == "RNN_TANH" else "relu"}
    m = cls(F, U, batch_first=True, bidirectional=bidirectional is not None, **kw)
    with torch.no_grad():
        for suffix, lay in zip(["", "_reverse"], layers):
            w_ih, w_hh, b_ih, b_hh = lay.cell.fused_weights()
            for name, w in zip(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], [w_ih, w_hh, b_ih, b_hh]):
                getattr(m, f"{name}_l0{suffix}").copy_(w)
    return m


def _onednn_lacks_low_precision_lstm(e: RuntimeError) -> bool:
    """torch 2.x CPU: nn.LSTM under autocast goes to oneDNN, which has no fp16 LSTM for float32
    input, and no bf16 one on CPUs without AVX-512 BF16 (seen on an AVX2-only AMD EPYC). Only
    torch's own module fails there; ours computes as the cast module, the model checked above."""
    return "could not create a primitive descriptor for the LSTM" in str(e)


def _torch_outputs(m, x, dtype=None, cast=False):
    if cast:
        m, x = copy.deepcopy(m).to(dtype), x.to(dtype)
    with torch.autocast("cpu", dtype=dtype or BF16, enabled=dtype is not None and not cast):
        y, s = m(x)
    s = s if isinstance(s, tuple) else (s,)
    return y, s


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", list(FUSED))
def test_fused_equals_torch_module(kind, dtype):
    layer = _layer(kind)
    x = torch.randn(B, T, F)
    ours = _call(layer, x, dtype)
    m = _torch_twin(layer)
    y, s = _torch_outputs(m, x, dtype, cast=True)
    _equal(ours, (y, *(t[0] for t in s)))  # the model: nn.LSTM's autocast = its cast module
    try:
        ya, sa = _torch_outputs(m, x, dtype)
    except RuntimeError as e:
        assert kind == "lstm" and _onednn_lacks_low_precision_lstm(e), e
        return
    if ya.dtype == dtype:  # nn.LSTM, nn.RNN: autocast runs the kernel in the autocast dtype
        _equal(ours, (ya, *(t[0] for t in sa)))
    else:  # nn.GRU on CPU keeps its recurrence in float32 under autocast; ours follows nn.LSTM
        assert kind == "gru" and ya.dtype == torch.float32
        tol = 8 * torch.finfo(dtype).eps
        for o, r in zip(ours, (ya, *(t[0] for t in sa))):
            torch.testing.assert_close(o.float(), r, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fused_bidirectional_equals_torch_module(kind, dtype):
    bi = kt.Bidirectional(FUSED[kind](**SEQ))
    x = torch.randn(B, T, F)
    bi(x)
    ours = _call(bi, x, dtype)
    y, s = _torch_outputs(_torch_twin(None, bi), x, dtype, cast=True)
    fw = tuple(t[0] for t in s)
    bw = tuple(t[1] for t in s)
    _equal(ours, (y, *fw, *bw))


# ---- (b) runner paths: dtype, cast equivalence, error bounded by the fused kernel's ---------------


def _fused_counterpart(kind, layer):
    """The fused configuration closest to a runner one, with the same Keras weights."""
    w = layer.get_keras_weights()
    if kind.startswith("lstm"):
        twin = kt.LSTM(U, input_size=w[0].shape[0], **SEQ)
    elif kind.startswith("gru"):
        twin = kt.GRU(U, input_size=w[0].shape[0], **SEQ)
        w = [w[0], w[1], np.stack([w[2], np.zeros_like(w[2])])]
    else:
        twin = kt.SimpleRNN(U, input_size=w[0].shape[0], **SEQ)
    twin.set_keras_weights(w)
    return twin


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", list(RUNNER))
def test_runner_precision(kind, dtype):
    features, batch, steps = 32, 16, 50
    layer = ALL[kind](**SEQ)
    layer(torch.zeros(1, 1, features))
    x = torch.randn(batch, steps, features)
    outs = _call(layer, x, dtype)
    assert all(o.dtype == dtype for o in outs)  # what nn.LSTM returns under autocast
    _equal(outs, _cast_call(layer, x, dtype))
    err = _err64(layer, x, outs)
    twin = _fused_counterpart(kind, layer)
    err_fused = _err64(twin, x, _call(twin, x, dtype))
    # measured: runner/fused 0.6-1.7 (the runner's elementwise math is in the low dtype, as with .to())
    assert err <= 3 * err_fused, (err, err_fused)
    assert err > _err64(layer, x, _call(layer, x)), "not computed in the low-precision dtype"


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", list(FUSED))
def test_fused_precision(kind, dtype):
    layer = _layer(kind)
    x = torch.randn(B, T, F)
    outs = _call(layer, x, dtype)
    _equal(outs, _cast_call(layer, x, dtype))
    assert _err64(layer, x, outs) < 8 * torch.finfo(dtype).eps  # measured <= 3.5 eps (relu), 2 eps


# ---- masks ------------------------------------------------------------------------------------------


def _mask(kind: str) -> torch.Tensor:
    m = torch.ones(B, T, dtype=torch.bool)
    if kind in ("post", "mixed", "holes"):
        m[0, 7:] = False
        m[5, 1:] = False
    if kind in ("pre", "mixed", "holes"):
        m[1, :4] = False
        m[4, :11] = False
    if kind in ("mixed", "holes"):
        m[2, :2] = False
        m[2, 9:] = False  # both ends
        m[3] = False  # fully masked row
    if kind == "holes":
        m[0, 2:4] = False
        m[2, 5] = False
    return m


def _expected_masked(layer, x, mask, dtype):
    """Keras semantics built from unmasked calls: each row's valid steps moved to the front, one
    unmasked full-batch call per distinct valid length; masked steps repeat the previous output
    (zeros before the first valid step); a fully masked row keeps its (zero) initial states."""
    idx = [row.nonzero().flatten() for row in mask]
    xc = torch.zeros_like(x)
    for b, i in enumerate(idx):
        xc[b, : len(i)] = x[b, i]
    outs = _call(layer, x[:, :1], dtype)  # shapes and dtypes
    y = torch.zeros_like(outs[0])[:, :1].repeat(1, T, 1)
    states = [torch.zeros_like(s) for s in outs[1:]]
    for n in sorted({len(i) for i in idx} - {0}):
        run = _call(layer, xc[:, :n], dtype)
        for b, i in enumerate(idx):
            if len(i) == n:
                y[b, i] = run[0][b]
                for s, r in zip(states, run[1:]):
                    s[b] = r[b]
    for b, i in enumerate(idx):  # masked steps repeat the last output
        for t in range(T):
            if not mask[b, t] and len(i) and t > i[0]:
                y[b, t] = y[b, t - 1]
    return (y, *states)


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("mask_kind", ["post", "pre", "mixed", "holes"])
@pytest.mark.parametrize("kind", list(ALL))
def test_masks_equal_unmasked_valid_steps(kind, mask_kind, dtype):
    """Masked results, the carried states included, are bit for bit the unmasked computation of
    the valid steps (the masked fused LSTM's saturating column is 1e4 in half types: it still
    carries the cell state exactly)."""
    layer = _layer(kind)
    x = torch.randn(B, T, F)
    mask = _mask(mask_kind)
    outs = _call(layer, x, dtype, mask=mask)
    _equal(outs, _expected_masked(layer, x, mask, dtype))
    _equal(outs, _cast_call(layer, x, dtype, mask=mask))


# ---- Bidirectional per direction, stateful ------------------------------------------------------------


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", ["lstm", "gru_reset_before", "lstm_hard_sigmoid"])
@pytest.mark.parametrize("mask_kind", [None, "mixed"])
def test_bidirectional_per_direction(kind, mask_kind, dtype):
    bi = kt.Bidirectional(ALL[kind](**SEQ))
    x = torch.randn(B, T, F)
    bi(x)
    mask = _mask(mask_kind) if mask_kind else None
    outs = _call(bi, x, dtype, mask=mask)
    assert all(o.dtype == dtype for o in outs)
    _equal(outs, _cast_call(bi, x, dtype, mask=mask))
    # each direction equals its layer run on its own (Keras: masked outputs zero in both)
    f, b = copy.deepcopy(bi.forward_layer), copy.deepcopy(bi.backward_layer)
    f.zero_output_for_mask = b.zero_output_for_mask = True
    of, ob = _call(f, x, dtype, mask=mask), _call(b, x, dtype, mask=mask)
    u = f.units
    assert torch.equal(outs[0][..., :u], of[0]) and torch.equal(outs[0][..., u:], ob[0].flip(1))
    assert _err64(bi, x, outs, mask=mask) < 8 * torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", ["lstm_hard_sigmoid", "gru", "simplernn_softsign"])
def test_stateful_under_autocast(kind, dtype):
    layer = _layer(kind, batch=B, stateful=True)
    layer.reset_states()
    whole = copy.deepcopy(layer)
    whole.stateful = False
    x = torch.randn(B, T, F)
    first = _call(layer, x[:, :5], dtype)
    assert all(s.dtype == dtype for s in layer.states)
    second = _call(layer, x[:, 5:], dtype)
    ref = _call(whole, x, dtype)
    assert torch.equal(torch.cat([first[0], second[0]], 1), ref[0])
    _equal(second[1:], ref[1:])
    # a float32 call after the autocast calls starts from the stored (low-precision) states
    stored = layer.states
    out32 = _call(layer, x[:, :3])
    ref32 = _call(whole, x[:, :3], initial_state=[s.float() for s in stored])
    _equal(out32, ref32)


# ---- (c) gradients under autocast ---------------------------------------------------------------------


def _grads(layer, x, w, dtype, mask=None, inside=False):
    layer.zero_grad()
    x = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=dtype or BF16, enabled=dtype is not None):
        out = _call(layer, x, mask=mask)
        loss = (out[0].float() * w).sum() + sum(s.float().sum() for s in out[1:])
        if inside:
            loss.backward()
    if not inside:
        loss.backward()
    return [p.grad.clone() for p in layer.parameters()] + [x.grad]


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("mask_kind", [None, "mixed", "holes"])
@pytest.mark.parametrize("kind", list(ALL) + ["bidirectional"])
def test_gradients_under_autocast(kind, mask_kind, dtype):
    if kind == "bidirectional":
        layer = kt.Bidirectional(kt.LSTM(U, recurrent_activation="hard_sigmoid", **SEQ))
        layer(torch.zeros(1, 1, F))
        width = 2 * U
    else:
        layer, width = _layer(kind), U
    layer.train()
    x, w = torch.randn(B, T, F), torch.randn(B, T, width)
    mask = _mask(mask_kind) if mask_kind else None
    g32 = _grads(layer, x, w, None, mask)
    for inside in (False, True):  # backward() after the autocast region, or inside it
        g = _grads(layer, x, w, dtype, mask, inside)
        for i, (a, r) in enumerate(zip(g, g32)):
            assert a.dtype == torch.float32 and bool(torch.isfinite(a).all()), i
            rel = float((a - r).norm() / r.norm())
            assert rel < GRAD_BOUND[dtype], (i, rel)


# ---- (d) layers cast with .to(bfloat16) / .half() -----------------------------------------------------


@pytest.mark.parametrize("cast", ["bfloat16", "half"])
@pytest.mark.parametrize("kind", list(ALL))
def test_cast_layers(kind, cast):
    """The whole computation in the layer's dtype (CPU torch has every op in both): outputs in it,
    the error bounded as under autocast, and a training step with finite grads in that dtype."""
    dtype = BF16 if cast == "bfloat16" else FP16
    layer = _layer(kind)
    x = torch.randn(B, T, F)
    low = copy.deepcopy(layer).bfloat16() if cast == "bfloat16" else copy.deepcopy(layer).half()
    mask = _mask("mixed")
    for m in (None, mask, _mask("holes")):
        outs = _call(low, x.to(dtype), mask=m)
        assert all(o.dtype == dtype for o in outs)
        _equal(outs, _call(layer, x, dtype, mask=m))  # = autocast
        assert _err64(layer, x, outs, mask=m) < 8 * torch.finfo(dtype).eps
    low.train()
    w = torch.randn(B, T, U)
    g32 = _grads(layer.train(), x, w, None, mask)
    g = _grads(low, x.to(dtype), w.to(dtype), None, mask)
    for i, (a, r) in enumerate(zip(g, g32)):
        assert a.dtype == dtype and bool(torch.isfinite(a).all()), i
        assert float((a.float() - r).norm() / r.norm()) < 4 * GRAD_BOUND[dtype], i


@pytest.mark.parametrize("dtype", LOW)
def test_built_in_half_type(dtype):
    """A layer made in a half type (lazily built at its first call) draws its Keras initial weights
    in float32 and rounds them (torch has no half QR for the orthogonal initializer)."""
    x = torch.randn(B, T, F, dtype=dtype)
    torch.manual_seed(3)
    low = kt.LSTM(U, recurrent_activation="hard_sigmoid", dtype=dtype)
    y = low(x)
    torch.manual_seed(3)
    ref = kt.LSTM(U, recurrent_activation="hard_sigmoid", input_size=F)
    assert y.dtype == dtype
    for a, r in zip(low.parameters(), ref.parameters()):
        assert torch.equal(a, r.to(dtype))


def test_dtype_errors_stay_clear():
    x = torch.randn(B, T, F)
    low = _layer("lstm_hard_sigmoid").to(BF16)
    with pytest.raises(TypeError, match=r"input dtype torch.float32 does not match .*\(torch.bfloat16\).*autocast"):
        low(x)
    with pytest.raises(TypeError, match=r"input dtype torch.bfloat16 does not match .*torch.float32"):
        _layer("gru_reset_before")(x.to(BF16))
    # autocast leaves float64 alone (as torch does): a float64 layer computes in float64 ...
    double = _layer("lstm_hard_sigmoid").double()
    _equal(_call(double, x.double(), BF16), _call(double, x.double()))
    # ... and float32 input to it stays a mismatch
    with pytest.raises(TypeError, match=r"torch.float64.*torch.autocast does not cast float64"):
        _call(double, x, BF16)
    # under autocast a float32 layer takes input in either half type (nn.LSTM does)
    layer = _layer("lstm_hard_sigmoid")
    _equal(_call(layer, x.to(FP16), BF16), _call(layer, x.to(FP16).to(BF16), BF16))


# ---- a loaded Keras model ------------------------------------------------------------------------------


def _keras_model(keras):
    L = keras.layers
    ids = keras.Input((T,), name="ids")
    xin = keras.Input((T, 5), name="x")
    e = L.Embedding(30, 8, mask_zero=True)(ids)
    d = L.Dense(8, activation="tanh")(e)
    t = L.TimeDistributed(L.Dense(6))(d)
    n = L.LayerNormalization()(t)
    a = L.LSTM(7, return_sequences=True, recurrent_activation="hard_sigmoid")(n)
    a = L.LSTM(7, return_sequences=True)(a)
    g = L.GRU(5, reset_after=False)(a)
    c = L.Conv1D(6, 3, padding="same")(xin)
    bn = L.BatchNormalization()(c)
    s = L.Bidirectional(L.SimpleRNN(4, activation="softsign"))(bn)
    r = L.GRU(4)(bn)
    return keras.Model([ids, xin], L.Concatenate()([g, s, r]))


def test_loaded_keras_model(keras3, tmp_path, rng):
    model = _keras_model(keras3)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.4 for w in model.get_weights()])
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            ws = layer.get_weights()
            ws[-1] = np.abs(ws[-1]) + 0.5
            layer.set_weights(ws)
    path = tmp_path / "m.keras"
    model.save(path)
    ids = rng.integers(1, 30, (4, T))
    ids[0, :4] = 0  # pre-padded
    ids[1, 9:] = 0  # post-padded
    ids[2, 5] = 0  # a hole
    ids[3] = 0  # fully masked
    xv = rng.standard_normal((4, T, 5)).astype("float32")
    keras_out = torch.as_tensor(np.asarray(model([ids, xv])))
    ours = kt.load_model(path).eval()
    i, xt = torch.as_tensor(ids), torch.as_tensor(xv)
    torch.testing.assert_close(ours(i, xt), keras_out, atol=1e-5, rtol=1e-5)
    for dtype in LOW:
        tol = 16 * torch.finfo(dtype).eps  # outputs are O(1); measured 3.6e-3 (bf16), 4.4e-4 (fp16)
        with torch.autocast("cpu", dtype=dtype):
            y = ours(i, xt)
        torch.testing.assert_close(y.float(), keras_out, atol=tol, rtol=0)
        cast = copy.deepcopy(ours).to(dtype)
        yc = cast(i, xt.to(dtype))
        assert yc.dtype == dtype
        torch.testing.assert_close(yc.float(), keras_out, atol=tol, rtol=0)
    # a training step under autocast: every parameter gets a finite float32 gradient close to float32's
    ours.train()
    params = list(ours.parameters())

    def grads(dtype):
        ours.zero_grad()
        torch.manual_seed(0)  # no dropout here, but keep any randomness aligned
        with torch.autocast("cpu", dtype=dtype or BF16, enabled=dtype is not None):
            loss = ours(i, xt).float().square().sum()
        loss.backward()
        return [p.grad.clone() for p in params]

    state = copy.deepcopy(ours.state_dict())  # BatchNormalization moving statistics
    g32 = grads(None)
    ours.load_state_dict(state)
    g = grads(BF16)
    assert len(g) == len(params) > 20
    # (the Conv1D bias feeding BatchNormalization in training mode has an exactly zero gradient:
    # its rounding noise is bounded against the largest gradient)
    scale = max(float(r.norm()) for r in g32)
    for k, (a, r) in enumerate(zip(g, g32)):
        assert a.dtype == torch.float32 and bool(torch.isfinite(a).all()), k
        assert float((a - r).norm()) < 0.05 * float(r.norm()) + 1e-3 * scale, k


def test_keras_mixed_bfloat16_parity(keras3, rng):
    """Keras 3's mixed_bfloat16 policy (float32 variables, bfloat16 compute) against autocast:
    the same numbers up to bfloat16 rounding of different operation orders."""
    layer = keras3.layers.LSTM(U, return_sequences=True, recurrent_activation="hard_sigmoid",
                               dtype="mixed_bfloat16")
    layer.build((None, None, F))
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3 for w in layer.get_weights()])
    x = rng.standard_normal((B, T, F)).astype("float32")
    keras_y = np.asarray(layer(x).numpy().astype("float32"))
    ours = kt.LSTM(U, return_sequences=True, recurrent_activation="hard_sigmoid", input_size=F)
    ours.set_keras_weights(layer.get_weights())
    with torch.autocast("cpu", dtype=BF16):
        y = ours(torch.as_tensor(x))
    assert str(layer.compute_dtype) == "bfloat16" and y.dtype == BF16
    ref32 = ours(torch.as_tensor(x)).detach()
    err_ours = float((y.detach().float() - ref32).abs().max())
    err_keras = float((torch.as_tensor(keras_y) - ref32).abs().max())
    # measured: 0.0059 apart; errors against float32 0.0066 (ours) and 0.0057 (Keras)
    torch.testing.assert_close(y.float(), torch.as_tensor(keras_y), atol=4 * 2**-8, rtol=0)
    assert err_ours <= 2 * err_keras, (err_ours, err_keras)


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kind", ["lstm", "lstm_hard_sigmoid", "gru_reset_before"])
def test_dropout_under_autocast(kind, dtype):
    """Dropout masks (one per sequence; per gate with recurrent dropout) follow the compute dtype:
    with the same masks, autocast equals the cast layer bit for bit, and gradients are finite."""
    layer = _layer(kind, dropout=0.3, recurrent_dropout=0.2 if kind != "lstm" else 0.0).train()
    x = torch.randn(B, T, F)
    gates = 4 if kind.startswith("lstm") else 3
    keep = (torch.rand(gates, B, F) > 0.3).float() / 0.7
    rkeep = (torch.rand(gates, B, U) > 0.2).float() / 0.8
    inputs = [m.numpy() for m in keep] if layer.recurrent_dropout else keep[0].numpy()
    recurrent = [m.numpy() for m in rkeep] if layer.recurrent_dropout else None
    low = copy.deepcopy(layer).to(dtype)
    with kt.testing.dropout_masks(layer, inputs, recurrent), kt.testing.dropout_masks(low, inputs, recurrent):
        outs = _call(layer, x, dtype)
        _equal(outs, _call(low, x.to(dtype)))
        outs32 = _call(layer, x)
        sum(o.float().sum() for o in outs).backward()
    assert all(o.dtype == dtype for o in outs)
    err = max(float((o.detach().float() - r.detach()).abs().max()) for o, r in zip(outs, outs32))
    assert err < 8 * torch.finfo(dtype).eps
    assert all(bool(torch.isfinite(p.grad).all()) for p in layer.parameters())
