"""Keras ``GRU``: the cell (:class:`GRUCell`, both ``reset_after`` variants) and the layer
(:class:`GRU`, the cell run over time by :class:`~.rnn.RNN`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..common.precision import cast_all
from .base_cell import RecurrentCell
from .projection import inplace_or, project, project_backward, project_weight_grad
from .rnn import RNN

__all__ = ["GRUCell", "GRU"]


class GRUCell(RecurrentCell):
    """Keras GRU cell. Keras gates [z | r | h]; stored here in torch's [r | z | n] order.

    ``reset_after=True`` (Keras 3 / tf.keras default) has bias (2, 3u) and equals torch.nn.GRU;
    ``reset_after=False`` (standalone Keras 2) has bias (3u,) and applies the reset gate to the
    state before the recurrent matmul.

    >>> import torch, keraslike_torch as kt
    >>> y, h = kt.RNN(kt.GRUCell(3, recurrent_dropout=0.1), return_state=True)(torch.zeros(2, 4, 5))
    >>> tuple(y.shape), tuple(h.shape)
    ((2, 3), (2, 3))
    """

    gates = 3
    state_count = 1
    keras_class = "GRU"
    keras_order = (1, 0, 2)
    writes_out = True

    def __init__(self, units: int, input_size: int | None = None, *, reset_after: bool = True,
                 **kwargs: Any) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(units, input_size, **kwargs)

    def _bias_names(self) -> list[str]:
        if not self.use_bias:
            return []
        return ["bias_ih", "bias_hh"] if self.reset_after else ["bias"]

    def _keras_bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _bias_from_keras(self, bias, rows):
        if self.reset_after:
            return {"bias_ih": rows(bias[0]), "bias_hh": rows(bias[1])}
        return {"bias": rows(bias)}

    def _bias_to_keras(self, params, rows):
        if self.reset_after:
            return torch.stack([rows(params["bias_ih"]), rows(params["bias_hh"])])
        return rows(params["bias"])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"

    def fused_mode(self) -> str | None:
        if (
            self.reset_after
            and self.activation.name == "tanh"
            and self.recurrent_activation.name == "sigmoid"
        ):
            return "GRU"
        return None

    def fused_weights(self, dtype: torch.dtype | None = None) -> list[Tensor]:
        if not self.use_bias:
            return cast_all([self.weight_ih, self.weight_hh], dtype)
        return cast_all([self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh], dtype)

    def _input_bias(self):
        if not self.use_bias:
            return None
        return self.bias_ih if self.reset_after else self.bias

    def recurrent_weights(self, dtype=None):
        if self.reset_after and self.use_bias:
            return tuple(cast_all([self.weight_hh, self.bias_hh], dtype))
        return tuple(cast_all([self.weight_hh], dtype))

    def prepare_recurrent(self, rec):
        w = rec[0]
        if self.reset_after:
            return (w.t().contiguous(), rec[1] if len(rec) > 1 else None)
        u = self.units
        return (w[: 2 * u].t().contiguous(), w[2 * u:].t().contiguous())

    def steps_in_place(self, mode):
        return not self.reset_after and super().steps_in_place(mode)

    def step_inputs(self, xp, mode):
        if not self.steps_in_place(mode):
            return super().step_inputs(xp, mode)
        u = self.units  # [r | z], the candidate block, r, z
        return self.views_per_step(xp[..., : 2 * u], xp[..., 2 * u:], xp[..., :u], xp[..., u: 2 * u])

    def make_step(self, prep, rmask, mode):
        u = self.units
        inplace, scratch = mode != "autograd", mode == "scratch"
        ra, act = self.recurrent_activation, self.activation
        if ra.elementwise:
            gate_fn = inplace_or(ra, scratch)
        else:
            def gate_fn(a: Tensor) -> Tensor:
                return torch.cat([ra.fn(a[:, :u]), ra.fn(a[:, u:])], 1)
        cand_fn = inplace_or(act, scratch)
        if self.reset_after:
            wt, b_hh = prep

            def step(xp, states, extras, out):
                (h,) = states
                x_rz, x_n = xp[:, : 2 * u], xp[:, 2 * u:]
                rec = project(b_hh, h, wt, rmask, out=extras[0] if inplace else None)
                a_rz = x_rz.add_(rec[:, : 2 * u]) if inplace else x_rz + rec[:, : 2 * u]
                r, z = gate_fn(a_rz).split(u, 1)
                rec_n = rec[:, 2 * u:]
                a_n = x_n.addcmul_(r, rec_n) if inplace else torch.addcmul(x_n, r, rec_n)
                n = cand_fn(a_n)
                return (torch.addcmul(n, z, h - n, out=out),)

            return step
        wt_rz, wt_n = prep
        m_rz = None if rmask is None else rmask[:2]
        m_n = None if rmask is None else rmask[2:]
        if self.steps_in_place(mode):
            gate_, cand_ = inplace_or(ra, True), inplace_or(act, True)  # (both have one here)

            def step_before_in_place(views, states, extras, out):
                x_rz, x_n, r, z = views  # r and z become the gates' values in place
                (h,) = states
                project(x_rz, h, wt_rz, m_rz, inplace=True)
                gate_(x_rz)
                n = cand_(project(x_n, r * h, wt_n, m_n, inplace=True))
                return (torch.addcmul(n, z, h - n, out=out),)

            return step_before_in_place

        def step_before(xp, states, extras, out):
            (h,) = states
            a_rz = project(xp[:, : 2 * u], h, wt_rz, m_rz, inplace=inplace)
            r, z = gate_fn(a_rz).split(u, 1)
            a_n = project(xp[:, 2 * u:], r * h, wt_n, m_n, inplace=inplace)
            n = cand_fn(a_n)
            return (torch.addcmul(n, z, h - n, out=out),)

        return step_before

    def extra_residual_sizes(self):
        return (3 * self.units,) if self.reset_after else ()

    def backward_prepare(self, z, extras, hist):
        u = self.units
        rz, drz, n, dn = self.gate_derivatives(z, 2 * u)
        r, zg = rz[..., :u], rz[..., u:]
        dr, dzg = drz[..., :u], drz[..., u:]
        h_prev = hist[:-1, 0]
        k_n = (1 - zg) * dn  # d a_n / d h_new
        k_z = (h_prev - n) * dzg  # d a_z / d h_new
        if self.reset_after:
            rec_n = extras[0][..., 2 * u:]
            k_r = k_n * rec_n * dr
            coef_x = torch.cat([k_r, k_z, k_n], -1)  # d xp / d h_new
            coef_rec = torch.cat([k_r, k_z, k_n * r], -1)  # d rec / d h_new
            return coef_x, coef_rec, zg.contiguous(), h_prev
        return k_n, k_z, h_prev * dr, r.contiguous(), zg.contiguous(), h_prev

    def backward_step(self, k, dnew, pre, rec, rmask, dxp, aux):
        (dh,) = dnew
        u = self.units
        w = rec[0]
        if self.reset_after:
            coef_x, coef_rec, zg, _ = pre
            dh3 = dh.unsqueeze(1)
            torch.mul(dh3, coef_x[k].view(-1, 3, u), out=dxp[k].view(-1, 3, u))
            drec = aux[k]  # type: ignore[index]
            torch.mul(dh3, coef_rec[k].view(-1, 3, u), out=drec.view(-1, 3, u))
            return [torch.addcmul(project_backward(drec, w, rmask), dh, zg[k])]
        k_n, k_z, k_r, r, zg, _ = pre
        d = dxp[k]
        da_n = torch.mul(dh, k_n[k], out=d[:, 2 * u:])
        drh = project_backward(da_n, w[2 * u:], None if rmask is None else rmask[2:])
        torch.mul(drh, k_r[k], out=d[:, :u])
        torch.mul(dh, k_z[k], out=d[:, u: 2 * u])
        dh_prev = torch.addcmul(dh * zg[k], drh, r[k])
        m_rz = None if rmask is None else rmask[:2]
        return [dh_prev + project_backward(d[:, : 2 * u], w[: 2 * u], m_rz)]

    def aux_size(self) -> int:
        return 3 * self.units if self.reset_after else 0

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        u = self.units
        h_prev = pre[-1]
        if self.reset_after:
            dw = project_weight_grad(aux, h_prev, rmask)  # type: ignore[arg-type]
            if self.use_bias:
                return dw, aux.sum((0, 1))  # type: ignore[union-attr]
            return (dw,)
        r = pre[3]
        m_rz = None if rmask is None else rmask[:2]
        m_n = None if rmask is None else rmask[2:]
        dw_rz = project_weight_grad(dxp[..., : 2 * u], h_prev, m_rz)
        dw_n = project_weight_grad(dxp[..., 2 * u:], r * h_prev, m_n)
        return (torch.cat([dw_rz, dw_n], 0),)


class GRU(RNN):
    """Keras ``GRU``: ``reset_after=True`` (Keras 3 / tf.keras) runs on torch's fused GRU;
    ``reset_after=False`` (standalone Keras 2) runs on the sequence runner.

    >>> import keraslike_torch as kt
    >>> kt.GRU(4, input_size=3).count_params(), kt.GRU(4, input_size=3, reset_after=False).count_params()
    (108, 96)
    """

    cell_class = GRUCell

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**self._family_keywords(units, kwargs))

    @property
    def reset_after(self) -> bool:
        return bool(self.cell.reset_after)
