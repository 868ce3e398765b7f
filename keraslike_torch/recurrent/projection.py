"""The sequence runner's GEMM helpers: recurrent projections (``h @ W^T``, optionally with one
recurrent-dropout mask per gate), their gradients, and the activation helpers the cells' steps use.

>>> import torch
>>> h, wt = torch.ones(2, 3), torch.ones(3, 4)
>>> project(torch.zeros(2, 4), h, wt, None).tolist()
[[3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .. import activations as _activations

__all__ = ["project", "project_backward", "project_weight_grad", "inplace_or", "activation_into"]


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
