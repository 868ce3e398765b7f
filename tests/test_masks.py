"""Masks of every pattern and Bidirectional, against Keras 3 and tf-keras at test time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kutil import build_keras_rnn, generation

import keraslike_torch as kt

T = 7
PATTERNS = {
    "none": None,
    "post": np.array([[1, 1, 1, 1, 0, 0, 0], [1] * T, [1, 1, 0, 0, 0, 0, 0]], bool),
    "pre": np.array([[0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 1], [1] * T], bool),
    "holes": np.array([[1, 0, 1, 1, 0, 1, 0], [0, 0, 1, 0, 1, 1, 1], [1, 1, 1, 0, 1, 1, 1]], bool),
    "fully_masked_row": np.array([[0] * T, [0, 0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 0]], bool),
}
MERGES = ["concat", "sum", "mul", "ave", None, "none_bidirectional"]
KINDS = [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}), ("SimpleRNN", {}),
         ("LSTM", {"recurrent_activation": "hard_sigmoid"})]
CASES = 120


def draw(rng: np.random.Generator) -> dict:
    kind, kw = KINDS[rng.integers(len(KINDS))]
    return dict(
        kind=kind, kw=dict(kw), pattern=str(rng.choice(list(PATTERNS))),
        merge=MERGES[rng.integers(len(MERGES))], go_backwards=bool(rng.random() < 0.3),
        initial_state=bool(rng.random() < 0.4), return_sequences=bool(rng.integers(2)),
        return_state=bool(rng.integers(2)), zero_output=bool(rng.random() < 0.3),
        dtype=str(rng.choice(["float32", "float64"])), path=str(rng.choice(["auto", "runner"])),
    )


def run(K, case: dict, rng: np.random.Generator) -> None:
    gen = generation(K)
    dtype, u, d, b = case["dtype"], 4, 3, 3
    flags = dict(return_sequences=case["return_sequences"], return_state=case["return_state"])
    n_states = 2 if case["kind"] == "LSTM" else 1
    bidir = case["merge"] != "none_bidirectional"
    if bidir:
        inner = getattr(K.layers, case["kind"])(u, dtype=dtype, **flags, **case["kw"])
        layer = K.layers.Bidirectional(inner, merge_mode=case["merge"], dtype=dtype)
        layer.build((None, None, d))
        layer.set_weights([(rng.standard_normal(w.shape) * 0.6).astype(dtype) for w in layer.get_weights()])
        n_states *= 2
    else:
        layer = build_keras_rnn(K, case["kind"], u, d, dtype, rng, go_backwards=case["go_backwards"],
                                zero_output_for_mask=case["zero_output"], **flags, **case["kw"])
    ours = kt.from_keras(layer)
    if case["path"] == "runner":
        for m in ours.modules():
            if isinstance(m, kt.RNN):
                m.use_fused = False
    x = rng.standard_normal((b, T, d)).astype(dtype)
    states = [rng.standard_normal((b, u)).astype(dtype) for _ in range(n_states)] if case["initial_state"] else None
    try:
        kt.testing.assert_keras_parity(layer, ours, x, mask=PATTERNS[case["pattern"]], initial_state=states)
    except AssertionError as e:
        raise AssertionError(f"case {case} (Keras {gen}):\n{e}") from None


@pytest.mark.parametrize("index", range(CASES))
def test_mask_matrix(K, index):
    rng = np.random.default_rng([generation(K), 77, index])
    run(K, draw(rng), rng)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(800))
def test_mask_sweep(K, index):
    rng = np.random.default_rng([generation(K), 78, index])
    run(K, draw(rng), rng)


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_every_pattern_both_paths_bidirectional_concat(K, pattern, kind, rng):
    inner = getattr(K.layers, kind)(5, return_sequences=True, return_state=True, dtype="float64")
    layer = K.layers.Bidirectional(inner, dtype="float64")
    layer.build((None, None, 2))
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    x = rng.standard_normal((3, T, 2))
    for path in ("auto", False):
        ours = kt.from_keras(layer)
        ours.forward_layer.use_fused = ours.backward_layer.use_fused = path
        kt.testing.assert_keras_parity(layer, ours, x, mask=PATTERNS[pattern])


@pytest.mark.parametrize("pattern", ["post", "pre", "holes", "fully_masked_row"])
def test_gradient_parity_with_mask_bidirectional(K, pattern, rng):
    inner = K.layers.LSTM(3, return_sequences=True, dtype="float64")
    layer = K.layers.Bidirectional(inner, merge_mode="concat", dtype="float64")
    layer.build((None, None, 2))
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    ours = kt.from_keras(layer)
    x = rng.standard_normal((3, T, 2))
    report = kt.testing.assert_keras_gradient_parity(layer, ours, x, mask=PATTERNS[pattern])
    assert len(report.diffs) == 1 + 6


def test_output_mask_propagation(keras3):
    mask = torch.tensor(PATTERNS["pre"])
    x = torch.randn(3, T, 2)
    seq = kt.LSTM(3, return_sequences=True)
    seq(x, mask=mask)
    assert torch.equal(seq.output_mask, mask) and torch.equal(seq.compute_mask(x, mask), mask)
    last = kt.LSTM(3)
    last(x, mask=mask)
    assert last.output_mask is None and last.compute_mask(x, mask) is None
    st = kt.LSTM(3, return_sequences=True, return_state=True)
    assert len(st.compute_mask(x, mask)) == 3 and st.compute_mask(x, mask)[1] is None
    bi = kt.Bidirectional(kt.GRU(3, return_sequences=True), merge_mode=None)
    bi(x, mask=mask)
    assert isinstance(bi.output_mask, tuple) and torch.equal(bi.output_mask[0], mask)
    # as Keras does
    k = keras3.layers.Bidirectional(keras3.layers.GRU(3, return_sequences=True), merge_mode=None)
    km = k.compute_mask(np.zeros((3, T, 2)), mask.numpy())
    assert isinstance(km, tuple) and np.array_equal(np.asarray(km[0]), mask.numpy())


def test_bidirectional_weights_and_counts(K, rng):
    inner = K.layers.GRU(4, reset_after=False)
    layer = K.layers.Bidirectional(inner)
    layer.build((None, None, 3))
    ours = kt.from_keras(layer)
    assert ours.count_params() == layer.count_params() == sum(p.numel() for p in ours.parameters())
    for a, b in zip(ours.get_keras_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    before = [w.copy() for w in ours.get_keras_weights()]
    bad = before[:3] + [before[3][:, :2]] + before[4:]
    with pytest.raises(ValueError, match="expects 3 weights with shapes"):
        ours.set_keras_weights(bad)
    for a, b in zip(ours.get_keras_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_options_and_errors():
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        kt.Bidirectional(kt.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="different go_backwards"):
        kt.Bidirectional(kt.LSTM(3), backward_layer=kt.LSTM(3))
    with pytest.raises(ValueError, match="agree on return_sequences"):
        kt.Bidirectional(kt.LSTM(3), backward_layer=kt.LSTM(3, go_backwards=True, return_sequences=True))
    bi = kt.Bidirectional(kt.LSTM(3, return_state=True))
    with pytest.raises(ValueError, match="takes 4 initial state tensors"):
        bi(torch.zeros(2, 4, 1), initial_state=[torch.zeros(2, 3)] * 2)
    custom_back = kt.GRU(5, go_backwards=True, return_sequences=True)
    bi = kt.Bidirectional(kt.GRU(3, return_sequences=True), backward_layer=custom_back)
    assert tuple(bi(torch.zeros(2, 4, 1)).shape) == (2, 4, 8)


def test_bidirectional_stateful(keras3, rng):
    inner = keras3.layers.LSTM(3, stateful=True, return_sequences=True, dtype="float64")
    layer = keras3.layers.Bidirectional(inner, dtype="float64")
    layer.build((2, None, 2))
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    ours = kt.from_keras(layer)
    for i in range(3):
        if i == 2:
            layer.reset_states()
            ours.reset_states()
        kt.testing.assert_keras_parity(layer, ours, rng.standard_normal((2, 4, 2)))


def test_fused_kernels_are_used():
    import keraslike_torch.recurrent.bidirectional as bmod
    import keraslike_torch.recurrent.rnn as rmod

    calls = []
    orig, orig_masked = bmod.fused_call, rmod.fused_call_masked
    bmod.fused_call = lambda *a, **k: calls.append("bidirectional") or orig(*a, **k)
    rmod.fused_call_masked = lambda *a, **k: calls.append("masked") or orig_masked(*a, **k)
    try:
        bi = kt.Bidirectional(kt.LSTM(3, return_sequences=True))
        bi(torch.randn(2, 5, 2))
        assert calls == ["bidirectional"]  # one bidirectional kernel call
        calls.clear()
        bi(torch.randn(2, 5, 2), mask=torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
        assert calls == ["masked", "masked"]  # each direction on the dense kernel, rows shifted
        calls.clear()
        kt.Bidirectional(kt.LSTM(3, recurrent_activation="hard_sigmoid"))(torch.randn(2, 5, 2))
        assert calls == []
    finally:
        bmod.fused_call, rmod.fused_call_masked = orig, orig_masked
