"""Keras ``LSTM``: the cell (:class:`LSTMCell`, one step's math and its batched backward) and the
layer (:class:`LSTM`, the cell run over time by :class:`~.rnn.RNN`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base_cell import RecurrentCell
from .projection import activation_into, inplace_or, project, project_backward, project_weight_grad
from .rnn import RNN

__all__ = ["LSTMCell", "LSTM"]


class LSTMCell(RecurrentCell):
    """Keras LSTM cell: gates [i | f | c | o] (same order as torch), one bias.

    >>> import keraslike_torch as kt
    >>> cell = kt.cells.LSTMCell(1, input_size=1)
    >>> [tuple(w.shape) for w in cell.get_keras_weights()]
    [(1, 4), (1, 4), (4,)]
    """

    gates = 4
    state_count = 2
    keras_class = "LSTM"
    keras_order = (0, 1, 2, 3)
    writes_out = True

    def __init__(self, units: int, input_size: int | None = None, *, unit_forget_bias: bool = True,
                 **kwargs: Any) -> None:
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, input_size, **kwargs)

    def _initializers(self) -> list[Any]:
        inits = super()._initializers()
        if self.use_bias and self.unit_forget_bias:
            base = self.bias_initializer
            u = self.units

            def bias_init(t: Tensor) -> Tensor:
                base(t[:u])
                with torch.no_grad():
                    t[u: 2 * u] = 1.0
                base(t[2 * u:])
                return t

            inits[2] = bias_init
        return inits

    def fused_mode(self) -> str | None:
        if self.activation.name == "tanh" and self.recurrent_activation.name == "sigmoid":
            return "LSTM"
        return None

    # runner gate order [o | i | f | g]: the recurrent activation covers one contiguous 3u block
    # and, in the backward, the three blocks scaled by dc are contiguous.
    runner_order = (3, 0, 1, 2)

    def step_inputs(self, xp, mode):
        if not self.steps_in_place(mode):
            return super().step_inputs(xp, mode)
        u = self.units
        return self.views_per_step(xp, xp[..., : 3 * u], xp[..., :u], xp[..., u: 2 * u], xp[..., 2 * u: 3 * u],
                                   xp[..., 3 * u:])

    def make_step(self, prep, rmask, mode):
        u, wt = self.units, prep[0]
        inplace, scratch = mode != "autograd", mode == "scratch"
        ra, act = self.recurrent_activation, self.activation
        cell_fn = act.fn
        sizes = (3 * u, u)
        if self.steps_in_place(mode):
            gate_, cand_ = inplace_or(ra, True), inplace_or(act, True)  # (both have one here)

            def step_in_place(views, states, extras, out):
                z, z_s, o, i, f, z_g = views
                h, c = states
                if rmask is None:
                    z.addmm_(h, wt)
                else:
                    project(z, h, wt, rmask, inplace=True)
                gate_(z_s)
                c_new = torch.addcmul(f * c, i, cand_(z_g))
                return torch.mul(o, cell_fn(c_new), out=out), c_new

            return step_in_place
        fast = rmask is None and inplace
        gate_fn = inplace_or(ra, scratch)
        cand_fn = inplace_or(act, scratch)
        gates_elementwise = ra.elementwise
        save = mode == "save"  # the two tanh (activation) values are kept for the backward
        into = activation_into(act)

        def step(xp, states, extras, out):
            h, c = states
            z = xp.addmm_(h, wt) if fast else project(xp, h, wt, rmask, inplace)
            z_s, z_g = z.split(sizes, 1)
            if gates_elementwise:
                o, i, f = gate_fn(z_s).split(u, 1)
            else:
                o, i, f = (ra.fn(part) for part in z_s.split(u, 1))
            g = into(z_g, extras[0]) if save else cand_fn(z_g)
            c_new = torch.addcmul(f * c, i, g)
            tc = into(c_new, extras[1]) if save else cell_fn(c_new)
            return torch.mul(o, tc, out=out), c_new

        return step

    def extra_residual_sizes(self):
        return (self.units, self.units)  # activation(z_g) and activation(c_new) of every step

    def backward_prepare(self, z, extras, hist):
        u = self.units
        ra, act = self.recurrent_activation, self.activation
        g, tc = extras  # the forward's activation(z_g), activation(c_new)
        z_s = z[..., : 3 * u]
        s = ra(z_s)
        ds = ra.derivative(z_s, s)  # type: ignore[misc]
        dg = act.derivative(z[..., 3 * u:], g)  # type: ignore[misc]
        c_prev, c_new = hist[:-1, 1], hist[1:, 1]
        # (at a masked step tc is that of the step's own c_new, not the carried state's: the
        # runner gives such a step zero gradients, so its coefficients never count)
        dtc = act.derivative(c_new, tc)  # type: ignore[misc]
        o, i, f = s[..., :u], s[..., u: 2 * u], s[..., 2 * u:]
        dc_from_h = o * dtc
        coef_c = z.new_empty(*z.shape[:-1], 3, u)  # the i, f, g blocks' factors of dc
        torch.mul(g, ds[..., u: 2 * u], out=coef_c[..., 0, :])
        torch.mul(c_prev, ds[..., 2 * u:], out=coef_c[..., 1, :])
        torch.mul(i, dg, out=coef_c[..., 2, :])
        coef_o = tc * ds[..., :u]
        return dc_from_h, coef_c, coef_o, f.contiguous(), hist[:-1, 0]

    def backward_step(self, k, dnew, pre, rec, rmask, dxp, aux):
        dh, dc = dnew
        dc_from_h, coef_c, coef_o, f, _ = pre
        u = self.units
        dc = torch.addcmul(dc, dh, dc_from_h[k])
        dz = dxp[k]
        torch.mul(dh, coef_o[k], out=dz[:, :u])
        torch.mul(dc.unsqueeze(1), coef_c[k], out=dz[:, u:].view(-1, 3, u))
        return [project_backward(dz, rec[0], rmask), dc * f[k]]

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        return (project_weight_grad(dxp, pre[-1], rmask),)


class LSTM(RNN):
    """Keras ``LSTM`` on torch's fused kernel, with Keras's single bias and return values.

    >>> import torch, keraslike_torch as kt
    >>> lstm = kt.LSTM(1, return_sequences=True, return_state=True)
    >>> seq, h, c = lstm(torch.zeros(2, 3, 1))
    >>> tuple(seq.shape), tuple(h.shape), lstm.count_params()
    ((2, 3, 1), (2, 1), 12)
    """

    cell_class = LSTMCell

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**self._family_keywords(units, kwargs))
