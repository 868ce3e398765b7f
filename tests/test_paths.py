"""The fused-kernel path, the sequence runner and torch.nn's modules agree where both apply."""

from __future__ import annotations

import pytest
import torch

import keraslike_torch as kt

MASKS = {
    "none": None,
    "post": torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7, [1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0]]),
    "pre": torch.tensor([[0, 0, 0, 1, 1, 1, 1], [1] * 7, [0, 0, 0, 0, 0, 0, 1], [0, 0, 1, 1, 1, 1, 1]]),
    "middle": torch.tensor([[0, 1, 1, 1, 0, 0, 0], [0] * 7, [0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 1, 1, 1, 1]]),
    "holes": torch.tensor([[1, 0, 1, 0, 1, 0, 1], [0] * 7, [0, 1, 1, 0, 0, 1, 1], [1, 1, 0, 1, 1, 1, 0]]),
}
KINDS = [("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}), ("SimpleRNN", {"activation": "relu"})]


@pytest.mark.parametrize("kind,kw", KINDS, ids=[k + str(i) for i, (k, _) in enumerate(KINDS)])
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_fused_and_runner_agree(kind, kw, mask, go_backwards, zero_output_for_mask):
    torch.manual_seed(0)
    make = lambda fused: getattr(kt, kind)(  # noqa: E731
        5, input_size=3, return_sequences=True, return_state=True, go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask, use_fused=fused, dtype=torch.float64, **kw)
    fused, runner = make("auto"), make(False)
    runner.load_state_dict(fused.state_dict())
    x = torch.randn(4, 7, 3, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(4, 5, dtype=torch.float64) for _ in range(fused.state_count)]
    m = MASKS[mask]
    outs = [layer(x, mask=m, initial_state=states) for layer in (fused, runner)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    grads = [torch.autograd.grad(sum(o.sum() for o in out), x) for out in outs]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-11, atol=1e-12)


def test_torch_modules_agree_with_ours():
    torch.manual_seed(0)
    x = torch.randn(3, 9, 4, dtype=torch.float64)
    lstm = kt.LSTM(6, input_size=4, return_sequences=True, dtype=torch.float64, use_fused=False)
    ref = torch.nn.LSTM(4, 6, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(lstm.cell.weight_ih)
        ref.weight_hh_l0.copy_(lstm.cell.weight_hh)
        ref.bias_ih_l0.copy_(lstm.cell.bias)
        ref.bias_hh_l0.zero_()
    torch.testing.assert_close(lstm(x), ref(x)[0])

    for act, mode in (("tanh", "RNN_TANH"), ("relu", "RNN_RELU")):
        rnn = kt.SimpleRNN(6, input_size=4, activation=act, return_sequences=True, dtype=torch.float64,
                           use_fused=False, bias_initializer="random_normal")
        ref = torch.nn.RNN(4, 6, nonlinearity=act, batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            ref.weight_ih_l0.copy_(rnn.cell.weight_ih)
            ref.weight_hh_l0.copy_(rnn.cell.weight_hh)
            ref.bias_ih_l0.copy_(rnn.cell.bias)
            ref.bias_hh_l0.zero_()
        torch.testing.assert_close(rnn(x), ref(x)[0])
        assert rnn.cell.fused_mode() == mode

    gru = kt.GRU(6, input_size=4, return_sequences=True, dtype=torch.float64, use_fused=False,
                 bias_initializer="random_normal")
    ref = torch.nn.GRU(4, 6, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, n + "_l0").copy_(getattr(gru.cell, n))
    torch.testing.assert_close(gru(x), ref(x)[0])


def test_dispatch_choices():
    x = torch.randn(2, 5, 3)
    calls = []
    import keraslike_torch.recurrent.rnn as rec

    orig_scan, orig_fused, orig_masked = rec.scan, rec.fused_call, rec.fused_call_masked
    rec.scan = lambda *a, **k: calls.append("runner") or orig_scan(*a, **k)
    rec.fused_call = lambda *a, **k: calls.append("fused") or orig_fused(*a, **k)
    rec.fused_call_masked = lambda *a, **k: calls.append("fused") or orig_masked(*a, **k)
    try:
        cases = [
            (kt.LSTM(4), None, "fused"),
            (kt.LSTM(4, recurrent_activation="hard_sigmoid"), None, "runner"),
            (kt.GRU(4), None, "fused"),
            (kt.GRU(4, reset_after=False), None, "runner"),
            (kt.SimpleRNN(4, activation="relu"), None, "fused"),
            (kt.SimpleRNN(4, activation="elu"), None, "runner"),
            (kt.LSTM(4), torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 1, 0]]), "fused"),
            (kt.LSTM(4), torch.tensor([[1, 0, 1, 1, 1], [1, 1, 1, 1, 1]]), "fused"),  # holes
            (kt.GRU(4), torch.tensor([[1, 0, 1, 0, 1], [0, 0, 0, 0, 0]]), "fused"),
            (kt.LSTM(4, recurrent_activation="hard_sigmoid"), torch.tensor([[1, 0, 1, 1, 1], [1, 1, 1, 1, 1]]),
             "runner"),
            (kt.LSTM(4, use_fused=False), None, "runner"),
        ]
        for layer, mask, path in cases:
            calls.clear()
            layer(x, mask=mask)
            assert calls == [path], (layer, mask)
        calls.clear()
        kt.LSTM(4, dropout=0.3).train()(x)
        assert calls == ["fused"]  # one input mask for all gates: x * mask, then the kernel
        calls.clear()
        kt.LSTM(4, recurrent_dropout=0.3).train()(x)
        assert calls == ["runner"]
    finally:
        rec.scan, rec.fused_call, rec.fused_call_masked = orig_scan, orig_fused, orig_masked


def test_time_major_and_unroll():
    torch.manual_seed(0)
    a = kt.GRU(3, input_size=2, return_sequences=True, return_state=True)
    b = kt.GRU(3, input_size=2, return_sequences=True, return_state=True, time_major=True, unroll=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 6, 2)
    ya, ha = a(x)
    yb, hb = b(x.transpose(0, 1))
    torch.testing.assert_close(yb, ya.transpose(0, 1))
    torch.testing.assert_close(hb, ha)


def test_go_backwards_returns_processing_order():
    torch.manual_seed(0)
    fwd = kt.LSTM(3, input_size=2, return_sequences=True)
    bwd = kt.LSTM(3, input_size=2, return_sequences=True, go_backwards=True)
    bwd.load_state_dict(fwd.state_dict())
    x = torch.randn(2, 5, 2)
    torch.testing.assert_close(bwd(x), fwd(x.flip(1)))  # not flipped back
