"""Calls into torch's fused RNN kernels (oneDNN/native on CPU, cuDNN on CUDA).

Masked sequences also run here (:func:`fused_call_masked`), whatever the pattern (pre- or
post-padding, holes, fully masked rows): each row's valid steps are gathered, in order, to the
front (a masked step changes nothing in Keras, so the row's states are those of its valid steps
alone), the dense kernel runs, and the results are moved back into Keras's semantics (carried
states, repeated or zeroed outputs, fully masked rows returning their initial state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import _VF, Tensor

from ..common.precision import amp_dtype, autocast_off, cast_all

__all__ = ["MaskSpans", "mask_spans", "take_steps", "fused_call", "fused_call_masked", "place_outputs"]

_KERNELS: dict[str, Any] = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}


@dataclass
class MaskSpans:
    """Where each row's valid steps lie (in processing order) and how to gather them to the front."""

    mask: Tensor  # (B, T) bool
    count: Tensor  # (B, T) valid steps up to and including each step
    length: Tensor  # (B,) number of valid steps (0 = fully masked)
    index: Tensor | None  # (B, T) step gathered to each position (None: already left-aligned)
    any_empty: bool

    @property
    def left_aligned(self) -> bool:
        return self.index is None


def mask_spans(mask: Tensor) -> MaskSpans:
    """The valid steps of each row of a (B, T) bool mask, to be gathered to the front in order.

    >>> m = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    >>> s = mask_spans(m); s.length.tolist(), s.index[:, :3].tolist()
    ([2, 3, 0], [[1, 2, 0], [0, 2, 3], [0, 1, 2]])
    >>> mask_spans(torch.tensor([[1, 1, 0]], dtype=torch.bool)).left_aligned
    True
    """
    count = mask.cumsum(1)
    length = count[:, -1]
    front = torch.arange(mask.shape[1], device=mask.device) < length.unsqueeze(1)
    index = None
    if not bool((mask == front).all()):
        index = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
    return MaskSpans(mask, count, length, index, bool((length == 0).any()))


def take_steps(t: Tensor, index: Tensor) -> Tensor:
    """``t[b, index[b, j]]`` for a batch-major ``t`` (B, T, ...) and ``index`` (B, T'): whole steps
    copied as rows (``index_select`` on (B*T, ...)), several times faster than an elementwise
    ``torch.gather`` with an expanded index (0.9 ms of a 1.9 ms masked LSTM at B=64 T=100 F=U=32).
    ``t`` may be stored time-major (as the fused kernel's batch-first output is): its rows are
    then read without a copy. The result is batch-major.

    >>> t = torch.arange(6.).view(2, 3, 1)
    >>> take_steps(t, torch.tensor([[2, 0], [1, 1]])).flatten().tolist()
    [2.0, 0.0, 4.0, 4.0]
    >>> tm = t.transpose(0, 1).contiguous().transpose(0, 1)  # same values, time-major storage
    >>> take_steps(tm, torch.tensor([[2, 0], [1, 1]])).flatten().tolist()
    [2.0, 0.0, 4.0, 4.0]
    """
    batch, steps = t.shape[0], t.shape[1]
    b = torch.arange(batch, device=index.device).unsqueeze(1)
    if not t.is_contiguous() and t.transpose(0, 1).is_contiguous():
        # time-major storage (the fused kernel's batch-first output): its rows, without a copy
        rows, flat = index * batch + b, t.transpose(0, 1).reshape(steps * batch, *t.shape[2:])
    else:
        rows, flat = index + b * steps, t.reshape(batch * steps, *t.shape[2:])
    picked = flat.index_select(0, rows.reshape(-1))
    return picked.view(batch, index.shape[1], *t.shape[2:])


def fused_call(
    mode: str,
    x: Tensor,
    hx: tuple[Tensor, ...],
    weights: list[Tensor],
    has_biases: bool,
    training: bool,
    bidirectional: bool = False,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one torch fused kernel over batch-major ``x`` (B, T, F).

    ``hx``: initial states, each (D, B, u) with D = 2 if ``bidirectional``. Returns the output
    (B, T, D*u) and the final states (each (D, B, u)). Under ``torch.autocast`` everything is cast
    to the autocast dtype first and the kernel runs in it (as ``torch.nn.LSTM`` does).
    """
    amp = amp_dtype(x, weights[0])
    if amp is not None:
        with autocast_off(x.device.type):
            return fused_call(mode, x.to(amp), tuple(cast_all(hx, amp)), cast_all(weights, amp),
                              has_biases, training, bidirectional)
    kernel = _KERNELS[mode]
    h_arg: Tensor | tuple[Tensor, ...] = hx if mode == "LSTM" else hx[0]
    out, *final = kernel(x, h_arg, weights, has_biases, 1, 0.0, training, bidirectional, True)
    return out, tuple(final)


def _saturating_column(weights: list[Tensor], units: int) -> Tensor:
    """An input-weight column that drives the LSTM input gate to exactly 0 and the forget gate to
    exactly 1 when its input feature is 1: such a step carries the cell state bit for bit."""
    w = weights[0]
    big = 1e4 if w.dtype in (torch.float16, torch.bfloat16) else 1e15
    col = torch.zeros(w.shape[0], 1, dtype=w.dtype, device=w.device)
    col[:units] = -big
    col[units: 2 * units] = big
    return col


def fused_call_masked(
    mode: str,
    x: Tensor,
    hx: tuple[Tensor, ...],
    weights: list[Tensor],
    has_biases: bool,
    training: bool,
    spans: MaskSpans,
    need_states: bool = True,
) -> tuple[Tensor, tuple[Tensor | None, ...]]:
    """A masked sequence on the dense fused kernel (no packing, which would leave oneDNN for a
    slower native loop): each row's valid steps are gathered, in order, to the front, the kernel
    runs over all steps, and the results of each row's last valid step are gathered.
    The final hidden state is the output at that step; an LSTM's final cell state comes from one
    extra input feature marking the padding, whose weights saturate the input gate to 0 and the
    forget gate to 1 there (exactly), so the cell state is carried unchanged.

    ``hx``: initial states, each (1, B, u). Returns the left-aligned output (row b's valid outputs
    at [0, length[b]), see :func:`place_outputs`) and the final states (each (B, u); the LSTM
    cell state is None unless ``need_states``). Fully masked rows return their initial states.
    """
    steps = x.shape[1]
    # (x stays batch-major, as an unmasked call's: a time-major input would skip the kernel's
    # transposing copy, but it changes which GEMM torch's native path runs (half types on CPUs
    # without oneDNN support for them), and so its rounding: masked calls would no longer equal
    # unmasked ones on the valid steps bit for bit)
    if spans.index is not None:
        x = take_steps(x, spans.index)
    if mode == "LSTM" and need_states:
        pad = torch.arange(steps, device=x.device).unsqueeze(0) >= spans.length.unsqueeze(1)
        x = torch.cat([x, pad.unsqueeze(-1).to(x.dtype)], -1)
        weights = [torch.cat([weights[0], _saturating_column(weights, hx[0].shape[-1])], 1), *weights[1:]]
    out, final = fused_call(mode, x, hx, weights, has_biases, training)
    last = (spans.length - 1).clamp(min=0)
    h = take_steps(out, last.view(-1, 1)).squeeze(1)
    empty = (spans.length == 0).unsqueeze(1)
    if spans.any_empty:
        h = torch.where(empty, hx[0][0], h)
    states: tuple[Tensor | None, ...] = (h,)
    if mode == "LSTM":
        states = (h, final[1][0] if need_states else None)
    return out, states


def place_outputs(out: Tensor, spans: MaskSpans, repeat_last: bool) -> Tensor:
    """Move the front-gathered outputs back to their steps; a masked step repeats the last valid
    output before it (``repeat_last``) or is zero, and steps before the first valid one are zero
    (Keras semantics)."""
    src = (spans.count - 1).clamp_(min=0)
    placed = take_steps(out, src)
    keep = spans.count > 0 if repeat_last else spans.mask
    # Zeroed as whole rows (exact zeros, NaN or not, as Keras's where): a where broadcasting the
    # (B, T, 1) mask over the features took 6x as long (0.28 ms at B=64 T=100 U=32).
    zero_rows = (~keep).flatten().nonzero().squeeze(1)
    if zero_rows.numel():
        placed.view(-1, *placed.shape[2:]).index_fill_(0, zero_rows, 0.0)
    return placed
