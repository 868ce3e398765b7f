"""The sequence runner's GEMMs: recurrent projections (``h @ W^T``, optionally with one
recurrent-dropout mask per gate) and the fold of a hard sigmoid's affine part into the gate weights.

Keras's hard sigmoids are ``clip(a * z + b, 0, 1)`` on the gate pre-activations
``z = x @ K + h @ R + bias`` (a = 0.2 in Keras 1/2 and tf-keras, 1/6 in Keras 3; b = 0.5). The
runner scales the gates' rows of K and R by ``a`` and their input bias by ``a`` plus ``b``, so that
the GEMMs themselves produce ``a * z + b`` and a step applies one clamp to its gate block instead
of a multiply, an add and a clamp (each a pass over a strided block, and a dispatch). The values
are Keras's up to rounding (the products are rounded after the scaling instead of before; the
parity suites run both generations' hard sigmoids). Gradients reach the parameters through the
scaling (autograd), and the hand-written backward works in the folded coordinates, where the
derivative is the clamp's 0/1 mask (closed interval for Keras 2's clip, open for Keras 3's relu6).

>>> import torch, keraslike_torch as kt
>>> cell = kt.cells.LSTMCell(2, input_size=3, recurrent_activation="hard_sigmoid")
>>> gate_activation(cell).name, cell.folded_gates
('unit_clip_open', 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import activations as _activations

if TYPE_CHECKING:
    from .base_cell import RecurrentCell

__all__ = ["project", "project_backward", "project_weight_grad", "inplace_or", "activation_into",
           "gate_activation", "fold_gate_rows", "fold_input_bias"]


def project(
    base: Tensor | None, h: Tensor, wt: Tensor, masks: Tensor | None,
    inplace: bool = False, out: Tensor | None = None,
) -> Tensor:
    """``base + h @ wt`` with ``wt = W.T`` (u_in, G*u). With ``masks`` (G, B, u_in) gate block g
    sees ``h * masks[g]`` (per-gate recurrent dropout). ``inplace`` adds into ``base`` (a scratch
    slice owned by the runner); ``out`` receives the result instead of a new tensor."""
    if masks is None:
        if base is None:
            return torch.mm(h, wt, out=out) if out is not None else torch.mm(h, wt)
        if inplace:
            return base.addmm_(h, wt)
        return torch.addmm(base, h, wt, out=out) if out is not None else torch.addmm(base, h, wt)
    g = masks.shape[0]
    wg = wt.view(wt.shape[0], g, -1).transpose(0, 1)  # (G, u_in, u)
    rec = torch.bmm(h.unsqueeze(0) * masks, wg).transpose(0, 1).reshape(h.shape[0], -1)
    if base is None:
        return out.copy_(rec) if out is not None else rec
    if inplace:
        return base.add_(rec)
    return torch.add(base, rec, out=out) if out is not None else base + rec


def project_backward(dout: Tensor, w: Tensor, masks: Tensor | None) -> Tensor:
    """Gradient of :func:`project` w.r.t. ``h``; ``w`` is the untransposed weight (G*u, u_in)."""
    if masks is None:
        return dout @ w
    g = masks.shape[0]
    wg = w.view(g, -1, w.shape[1])
    dh = torch.bmm(dout.view(dout.shape[0], g, -1).transpose(0, 1), wg)
    return (dh * masks).sum(0)


def project_weight_grad(dout: Tensor, h: Tensor, masks: Tensor | None) -> Tensor:
    """Gradient of :func:`project` w.r.t. ``W`` summed over steps: dout (T, B, G*u), h (T, B, u)."""
    if masks is None:
        return dout.reshape(-1, dout.shape[-1]).t() @ h.reshape(-1, h.shape[-1])
    g = masks.shape[0]
    tb = dout.shape[0] * dout.shape[1]
    hm = (h.unsqueeze(0) * masks.unsqueeze(1)).reshape(g, tb, -1)
    dg = dout.reshape(tb, g, -1).transpose(0, 1)
    return torch.bmm(dg.transpose(1, 2), hm).reshape(-1, h.shape[-1])


def inplace_or(act: _activations.Activation, scratch: bool) -> Callable[[Tensor], Tensor]:
    """The activation's in-place variant when the runner owns the tensor (scratch mode)."""
    return act.fn_ if scratch and act.fn_ is not None else act.fn


def activation_into(act: _activations.Activation) -> Callable[[Tensor, Tensor], Tensor]:
    """``f(x, out)``: ``act(x)`` written into ``out`` (a residual buffer the backward reads)."""
    if act is _activations.get("tanh"):
        return lambda x, out: torch.tanh(x, out=out)
    if act is _activations.get("sigmoid"):
        return lambda x, out: torch.sigmoid(x, out=out)
    return lambda x, out: out.copy_(act.fn(x))


def _fold(cell: RecurrentCell) -> tuple[float, float, _activations.Activation] | None:
    fold = cell.recurrent_activation.fold
    return fold if fold is not None and cell.folded_gates else None


def gate_activation(cell: RecurrentCell) -> _activations.Activation:
    """The function a runner step applies to the cell's gate block (the ``cell.folded_gates``
    leading blocks in the runner's order): the recurrent activation, or the clamp that is left of
    it once its affine part is folded into the weights (:func:`fold_gate_rows`)."""
    fold = _fold(cell)
    return fold[2] if fold is not None else cell.recurrent_activation


def _fold_vector(cell: RecurrentCell, gated_value: float, rest_value: float, like: Tensor) -> Tensor:
    gated = cell.folded_gates * cell.units
    rest = cell.gates * cell.units - gated
    return torch.cat([torch.full((gated,), gated_value, dtype=like.dtype, device=like.device),
                      torch.full((rest,), rest_value, dtype=like.dtype, device=like.device)])


def fold_gate_rows(cell: RecurrentCell, t: Tensor) -> Tensor:
    """``t`` (runner-ordered rows: a weight (G*u, d) or a recurrent bias (G*u,)) with the gate
    rows scaled by the hard sigmoid's slope; ``t`` itself when nothing is folded."""
    fold = _fold(cell)
    if fold is None:
        return t
    return t * _fold_vector(cell, fold[0], 1.0, t).view(-1, *(1,) * (t.dim() - 1))


def fold_input_bias(cell: RecurrentCell, bias: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """The input projection's bias (runner-ordered, or None for ``use_bias=False``) with the gate
    rows scaled by the slope and moved by the offset (added once per step, here), in ``dtype``."""
    fold = _fold(cell)
    if fold is None:
        return bias
    offset = _fold_vector(cell, fold[1], 0.0, cell.weight_hh).to(dtype)
    return offset if bias is None else fold_gate_rows(cell, bias) + offset
