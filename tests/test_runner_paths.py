"""The sequence runner's three modes give the plain formula's numbers: no grad (gates activated
in place through views made once per sequence), the hand-written backward (the LSTM keeps the
forward's activation values for it) and autograd through the functional loop (the tracers' path).

Keras parity of the same configurations is in test_parity_matrix (values, both generations' hard
sigmoids), test_gradients and test_masks; here each mode is compared with Keras's step written out
in torch, in float64, with masks with holes and with recurrent dropout.
"""

from __future__ import annotations

import pytest
import torch

import keraslike_torch as kt

HARD = ["hard_sigmoid", "hard_sigmoid_keras2", "sigmoid"]


def _keras_formula(kind: str, layer, x: torch.Tensor, mask: torch.Tensor | None, ra) -> torch.Tensor:
    """Keras's step written out from the Keras weights: unfused, autograd-friendly."""
    k, r, *b = [torch.as_tensor(a, dtype=x.dtype) for a in layer.get_keras_weights()]
    b = b[0] if b else torch.zeros(k.shape[1], dtype=x.dtype)
    u = layer.cell.units
    h = torch.zeros(x.shape[0], u, dtype=x.dtype)
    c = torch.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        if kind == "LSTM":
            z = x[:, t] @ k + h @ r + b
            i, f, g, o = z.split(u, 1)
            c_new = ra(f) * c + ra(i) * torch.tanh(g)
            h_new = ra(o) * torch.tanh(c_new)
        elif layer.cell.reset_after:
            bi, bh = b if b.dim() == 2 else (b, torch.zeros_like(b))
            xz, xr, xh = (x[:, t] @ k + bi).split(u, 1)
            hz, hr, hh = (h @ r + bh).split(u, 1)
            zg, rg = ra(xz + hz), ra(xr + hr)
            n = torch.tanh(xh + rg * hh)
            h_new, c_new = zg * h + (1 - zg) * n, c
        else:
            xz, xr, xh = (x[:, t] @ k + b).split(u, 1)
            zg = ra(xz + h @ r[:, :u])
            rg = ra(xr + h @ r[:, u: 2 * u])
            n = torch.tanh(xh + (rg * h) @ r[:, 2 * u:])
            h_new, c_new = zg * h + (1 - zg) * n, c
        if mask is not None:
            m = mask[:, t: t + 1]
            h_new, c_new = torch.where(m, h_new, h), torch.where(m, c_new, c)
        h, c = h_new, c_new
        outs.append(h)
    return torch.stack(outs, 1)


def _layer(kind: str, ra: str, **kw):
    torch.manual_seed(3)
    extra = {"reset_after": kw.pop("reset_after")} if kind == "GRU" else {}
    return getattr(kt, kind)(5, recurrent_activation=ra, return_sequences=True, input_size=4,
                             dtype=torch.float64, use_fused=False, bias_initializer="random_normal",
                             **extra, **kw)


CASES = [("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}),
         ("LSTM", {"use_bias": False})]


@pytest.mark.parametrize("ra", HARD)
@pytest.mark.parametrize("kind,kw", CASES, ids=["lstm", "gru_after", "gru_before", "lstm_nobias"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "holes"])
def test_runner_modes_equal_keras_formula(kind, kw, ra, masked):
    layer = _layer(kind, ra, **dict(kw))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 9, 4, generator=g, dtype=torch.float64) * 3  # gates reach both saturations
    mask = torch.rand(3, 9, generator=g) > 0.3 if masked else None
    act = kt.activations.get(ra)
    want = _keras_formula(kind, layer, x, mask, act)
    with torch.no_grad():
        scratch = layer(x, mask=mask)
    torch.testing.assert_close(scratch, want, rtol=1e-13, atol=1e-14)

    # the hand-written backward against autograd through the formula
    xg = x.clone().requires_grad_(True)
    out = layer(xg, mask=mask)
    torch.testing.assert_close(out.detach(), want, rtol=1e-13, atol=1e-14)
    w = torch.cos(torch.arange(out.numel(), dtype=torch.float64)).view_as(out)
    params = list(layer.parameters())
    got = torch.autograd.grad((out * w).sum(), [xg, *params])
    xr = x.clone().requires_grad_(True)
    keras_vars = [torch.tensor(a, requires_grad=True) for a in layer.get_keras_weights()]

    class _View:  # the formula reads the Keras weights through get_keras_weights()
        cell = layer.cell

        @staticmethod
        def get_keras_weights():
            return keras_vars

    ref = _keras_formula(kind, _View, xr, mask, act)
    ref_grads = torch.autograd.grad((ref * w).sum(), [xr, *keras_vars])
    torch.testing.assert_close(got[0], ref_grads[0], rtol=1e-12, atol=1e-13)
    got_keras = layer.cell.keras_gradients()  # the parameter gradients in Keras's layout
    assert got_keras == [None] * len(got_keras)  # autograd.grad does not accumulate .grad
    for p, gp in zip(params, got[1:]):
        p.grad = gp
    for name, a, b in zip(["kernel", "recurrent_kernel", "bias"], layer.cell.keras_gradients(), ref_grads[1:]):
        torch.testing.assert_close(torch.as_tensor(a), b, rtol=1e-12, atol=1e-13, msg=lambda s, n=name: f"{n}: {s}")


@pytest.mark.parametrize("ra", HARD)
def test_runner_modes_agree_under_recurrent_dropout(ra):
    """With per-gate recurrent dropout the no-grad loop and the one the hand-written backward
    saves give the same numbers; the functional loop (the path tracers take) gives the eager ones."""
    layer = _layer("LSTM", ra, recurrent_dropout=0.3)
    x = torch.randn(2, 6, 4, dtype=torch.float64) * 3
    torch.manual_seed(11)
    with torch.no_grad():
        scratch = layer(x, training=True)
    torch.manual_seed(11)
    saved = layer(x, training=True)
    assert saved.grad_fn is not None
    torch.testing.assert_close(saved.detach(), scratch, rtol=1e-13, atol=1e-14)

    class Eval(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, t):
            return self.layer(t)

    with torch.no_grad():
        traced = torch.jit.trace(Eval().eval(), (x,), check_trace=False)
        x2 = torch.randn(2, 6, 4, dtype=torch.float64) * 3
        torch.testing.assert_close(traced(x2), layer(x2), rtol=1e-13, atol=1e-14)
