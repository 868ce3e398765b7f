"""The sequence runner: drives any :class:`~keraslike_torch.cells.RecurrentCell` over time.

It computes what torch's fused kernels cannot: other activations (hard_sigmoid, relu, ...), GRU
with ``reset_after=False``, per-gate recurrent dropout, and any mask while tracing. Masks, go_backwards
(done by the caller flipping the input) and state carrying are handled here once for every cell,
with Keras's semantics: at a masked step the states are carried and the output repeats the
previous output (zeros before the first valid step) or is zero with ``zero_output_for_mask``.

Speed: the input projection of all steps is one matmul done by the cell before the loop; each step
is a handful of ops. Training goes through :class:`_Scan`, an autograd function whose backward is
the cells' hand-written step backward (elementwise derivatives computed for all steps at once) and
whose weight gradients are single large matmuls over all steps. Activations without an elementwise
derivative (softmax, user callables) fall back to autograd through the same loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..common import tracing
from ..common.precision import autocast_enabled, autocast_off
from .base_cell import RecurrentCell

__all__ = ["scan"]


def _loop(
    cell: RecurrentCell,
    xp: Tensor,
    states: tuple[Tensor, ...],
    rec: tuple[Tensor, ...],
    mask: Tensor | None,
    rmask: Tensor | None,
    zero_output_for_mask: bool,
    return_sequences: bool,
    mode: str,
) -> tuple[Tensor | None, Tensor, tuple[Tensor, ...], Any]:
    """Run the cell over the time-major projection ``xp`` (T, B, G*u) in order.

    ``mode``: "scratch" (no gradients: ``xp`` is the runner's own and is overwritten), "save"
    (for :class:`_Scan`: pre-activations, residuals and the state history are kept) or
    "autograd" (purely functional, differentiated by autograd). Returns (outputs (T, B, u) or
    None, last output, final states, saved) with ``saved = (z, extras, hist)`` in "save" mode.
    """
    steps, batch = xp.shape[0], xp.shape[1]
    step = cell.make_step(cell.prepare_recurrent(rec), rmask, mode)
    saved = None
    scratch = mode == "scratch"
    # Per-step views are made up front (one unbind each): the loop is dispatch-bound.
    step_extras: list[Any]
    if mode == "save":
        xp = xp.clone(memory_format=torch.contiguous_format)  # becomes the pre-activations
        extras = [xp.new_empty(steps, batch, k) for k in cell.extra_residual_sizes()]
        hist = xp.new_empty(steps + 1, len(states), *states[0].shape)
        for j, s in enumerate(states):
            hist[0, j] = s
        saved = (xp, extras, hist)
        hist_steps = hist.unbind(0)[1:]
        step_extras = list(zip(*[e.unbind(0) for e in extras])) if extras else [[]] * steps
    elif scratch:
        step_extras = [[xp.new_empty(batch, k) for k in cell.extra_residual_sizes()]] * steps
    else:
        step_extras = [None] * steps
    xs = cell.step_inputs(xp, mode)
    # Outside autograd, outputs are written straight into one buffer (no stack at the end).
    # (states are (B, units), or (B, filters, *spatial) for the convolutional cells)
    out_buf = xp.new_empty(steps, *states[0].shape) if return_sequences and mode != "autograd" else None
    slots: Any = out_buf.unbind(0) if out_buf is not None else [None] * steps
    outputs: list[Tensor] = []
    y = None
    if mask is None:
        copy_out = out_buf is not None and not cell.writes_out
        for k in range(steps):
            states = step(xs[k], states, step_extras[k], slots[k])
            if copy_out:
                slots[k].copy_(states[0])
            if mode == "save":
                for j, s in enumerate(states):
                    hist_steps[k][j].copy_(s)
            elif out_buf is None and return_sequences:
                outputs.append(states[0])
        y = states[0]
        if not copy_out and out_buf is not None:  # the cell wrote h into the output buffer
            states = (states[0].clone(), *states[1:])
    else:
        # (T, B) -> the states' rank; a convolutional layer's per-position mask is (T, B, 1, *spatial)
        masks = mask.view(*mask.shape, *(1,) * (states[0].dim() + 1 - mask.dim())).unbind(0)
        y = zero = torch.zeros_like(states[0])
        # Keras's output repeats the previous output (zeros before the first valid step); from a
        # zero initial state that is the carried state itself: one select per step fewer.
        y_is_h = not zero_output_for_mask and not tracing.is_tracing() and not bool(states[0].any())
        for k in range(steps):
            new = step(xs[k], states, step_extras[k], None)
            m, slot = masks[k], slots[k]
            if y_is_h:
                y = torch.where(m, new[0], states[0], out=slot)
                states = (y if slot is None else y.clone(),
                          *(torch.where(m, n, s) for n, s in zip(new[1:], states[1:])))
            else:
                states = tuple(torch.where(m, n, s) for n, s in zip(new, states))
                fill = zero if zero_output_for_mask else y
                y = torch.where(m, new[0], fill, out=slot)
            if mode == "save":
                for j, s in enumerate(states):
                    hist_steps[k][j].copy_(s)
            elif out_buf is None and return_sequences:
                outputs.append(y)
    out = out_buf if out_buf is not None else (torch.stack(outputs) if return_sequences else None)
    return out, y, states, saved  # type: ignore[return-value]


class _Scan(torch.autograd.Function):
    """Autograd function around :func:`_loop` with the cells' batched backward."""

    @staticmethod
    def forward(ctx: Any, cell: RecurrentCell, opts: tuple, xp: Tensor, mask: Tensor | None,
                rmask: Tensor | None, n_states: int, *tensors: Tensor) -> Any:
        zero_output, return_sequences = opts
        states, rec = tuple(tensors[:n_states]), tuple(tensors[n_states:])
        out, last, final, (z, extras, hist) = _loop(
            cell, xp, states, rec, mask, rmask, zero_output, return_sequences, mode="save"
        )
        ctx.cell, ctx.opts, ctx.n_extras = cell, opts, len(extras)
        ctx.device_type = xp.device.type
        ctx.save_for_backward(z, hist, mask, rmask, *extras, *rec)
        if out is None:
            out = last.unsqueeze(0)
        return (out, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor | None, *dfinal: Tensor | None) -> Any:
        # In the forward's dtype throughout, even when backward() is called under autocast (whose
        # float32 list, on CUDA exp/pow/sum among others, would break the out= writes below).
        device_type = ctx.device_type
        with autocast_off(device_type, autocast_enabled(device_type)):
            return _Scan._backward(ctx, dout, *dfinal)

    @staticmethod
    def _backward(ctx: Any, dout: Tensor | None, *dfinal: Tensor | None) -> Any:
        cell: RecurrentCell = ctx.cell
        zero_output, return_sequences = ctx.opts
        z, hist, mask, rmask, *rest = ctx.saved_tensors
        extras, rec = rest[: ctx.n_extras], tuple(rest[ctx.n_extras:])
        steps, batch = z.shape[0], z.shape[1]
        units = cell.units

        pre = cell.backward_prepare(z, extras, hist)
        dxp = torch.empty_like(z)
        aux = z.new_empty(steps, batch, cell.aux_size()) if cell.aux_size() else None
        ds = [g if g is not None else torch.zeros_like(hist[0, j]) for j, g in enumerate(dfinal)]
        if dout is None:
            dout = z.new_zeros(steps if return_sequences else 1, batch, units)
        mask3 = mask.unsqueeze(-1) if mask is not None else None
        dy_carry: Tensor | None = None
        for k in range(steps - 1, -1, -1):
            if return_sequences:
                gy = dout[k]
            else:
                gy = dout[0] if k == steps - 1 else None
            if dy_carry is not None:
                gy = dy_carry if gy is None else gy + dy_carry
            if mask3 is None:
                dnew = list(ds)
                if gy is not None:
                    dnew[0] = dnew[0] + gy
                ds = cell.backward_step(k, dnew, pre, rec, rmask, dxp, aux)
            else:
                m = mask3[k]
                dnew = [torch.where(m, d, 0.0) for d in ds]
                if gy is not None:
                    dnew[0] = dnew[0] + torch.where(m, gy, 0.0)
                    if not zero_output:
                        dy_carry = torch.where(m, 0.0, gy)
                dprev = cell.backward_step(k, dnew, pre, rec, rmask, dxp, aux)
                ds = [p + torch.where(m, 0.0, d) for p, d in zip(dprev, ds)]
        rec_grads = cell.recurrent_grads(dxp, aux, pre, hist, rmask)
        return (None, None, dxp, None, None, None, *ds, *rec_grads)


def scan(
    cell: RecurrentCell,
    xp: Tensor,
    states: tuple[Tensor, ...],
    mask: Tensor | None = None,
    rmask: Tensor | None = None,
    zero_output_for_mask: bool = False,
    return_sequences: bool = True,
) -> tuple[Tensor | None, Tensor, tuple[Tensor, ...]]:
    """Run ``cell`` over the time-major input projection ``xp`` (T, B, G*u). Without gradients
    ``xp`` is overwritten (it must be the caller's own temporary).

    ``mask``: (T, B) bool in processing order; ``rmask``: per-gate recurrent dropout masks
    (G, B, u). Returns ``(outputs (T, B, u) or None, last_output (B, u), final_states)``.
    """
    rec = cell.recurrent_weights(xp.dtype)  # the compute dtype (the layer casts under autocast)
    tensors = (*states, *rec)
    needs_grad = torch.is_grad_enabled() and (
        xp.requires_grad or any(t.requires_grad for t in tensors)
    )
    if not needs_grad or cell.uses_autograd_backward() or tracing.is_tracing():
        # Tracers get the functional loop: no value-dependent branch, no writes into buffers.
        mode = "autograd" if needs_grad or tracing.is_tracing() else "scratch"
        out, last, final, _ = _loop(
            cell, xp, states, rec, mask, rmask, zero_output_for_mask, return_sequences, mode
        )
        return out, last, final
    result = _Scan.apply(
        cell, (zero_output_for_mask, return_sequences), xp, mask, rmask, len(states), *tensors
    )
    out, final = result[0], tuple(result[1:])
    if return_sequences:
        return out, out[-1], final
    return None, out[0], final
