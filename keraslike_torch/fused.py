"""Calls into torch's fused RNN kernels (oneDNN/native on CPU, cuDNN on CUDA).

Masks whose valid steps form one contiguous block per row (right-padded, left-padded, or both)
also run here: each row is shifted so its block starts at step 0, the batch is packed with the
block lengths, and the results are shifted back into Keras's semantics (carried states, repeated
or zeroed outputs, fully masked rows returning their initial state).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

__all__ = ["MaskSpans", "mask_spans", "fused_call", "place_outputs"]

_KERNELS = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}


@dataclass
class MaskSpans:
    """Where each row's single block of valid steps lies (in processing order)."""

    start: Tensor  # (B,) first valid step
    length: Tensor  # (B,) number of valid steps (0 = fully masked)
    left_aligned: bool  # every block starts at step 0 (right padding only)
    any_empty: bool

    @property
    def end(self) -> Tensor:
        return self.start + self.length


def mask_spans(mask: Tensor) -> MaskSpans | None:
    """The contiguous valid block of each row of a (B, T) bool mask, or None if some row has holes.

    >>> m = torch.tensor([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    >>> s = mask_spans(m); s.start.tolist(), s.length.tolist()
    ([1, 0, 0], [2, 4, 0])
    >>> mask_spans(torch.tensor([[1, 0, 1]], dtype=torch.bool)) is None
    True
    """
    mi = mask.to(torch.int8)
    starts = (mi[:, 1:] > mi[:, :-1]).sum(1) + mi[:, 0]
    if bool((starts > 1).any()):
        return None
    length = mi.sum(1, dtype=torch.long)
    start = torch.where(length > 0, mi.argmax(1), torch.zeros_like(length))
    return MaskSpans(start, length, bool((start == 0).all()), bool((length == 0).any()))


def _shift_index(spans: MaskSpans, steps: int) -> Tensor:
    t = torch.arange(steps, device=spans.start.device)
    return (t.unsqueeze(0) + spans.start.unsqueeze(1)).clamp_(max=steps - 1)


def fused_call(
    mode: str,
    x: Tensor,
    hx: tuple[Tensor, ...],
    weights: list[Tensor],
    has_biases: bool,
    training: bool,
    bidirectional: bool = False,
    spans: MaskSpans | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one torch fused kernel over batch-major ``x`` (B, T, F).

    ``hx``: initial states, each (D, B, u) with D = 2 if ``bidirectional``. Returns the output
    (B, T, D*u) and the final states (each (D, B, u)). With ``spans`` the output is left-aligned:
    row b's valid outputs sit at [0, length[b]) (see :func:`place_outputs`), zeros elsewhere; the
    final states are those of each row's last valid step, or the initial state for empty rows.
    """
    kernel = _KERNELS[mode]
    h_arg: Tensor | tuple[Tensor, ...] = hx if mode == "LSTM" else hx[0]
    if spans is None:
        out, *final = kernel(x, h_arg, weights, has_biases, 1, 0.0, training, bidirectional, True)
        return out, tuple(final)
    steps = x.shape[1]
    if not spans.left_aligned:
        x = torch.gather(x, 1, _shift_index(spans, steps).unsqueeze(-1).expand_as(x))
    lengths = spans.length.clamp(min=1).cpu()
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    sorted_idx, unsorted_idx = packed.sorted_indices, packed.unsorted_indices
    assert sorted_idx is not None and unsorted_idx is not None
    hs = tuple(h.index_select(1, sorted_idx) for h in hx)
    h_arg = hs if mode == "LSTM" else hs[0]
    out_data, *final = kernel(
        packed.data, packed.batch_sizes, h_arg, weights, has_biases, 1, 0.0, training, bidirectional
    )
    out, _ = pad_packed_sequence(
        PackedSequence(out_data, packed.batch_sizes, sorted_idx, unsorted_idx),
        batch_first=True,
        total_length=steps,
    )
    final_states = tuple(f.index_select(1, unsorted_idx) for f in final)
    if spans.any_empty:
        empty = (spans.length == 0).view(1, -1, 1)
        final_states = tuple(torch.where(empty, h0, f) for h0, f in zip(hx, final_states))
        out = torch.where(empty.view(-1, 1, 1), 0.0, out)
    return out, final_states


def place_outputs(out: Tensor, spans: MaskSpans, repeat_last: bool) -> Tensor:
    """Move left-aligned outputs back to each row's block; masked steps after the block repeat the
    last valid output (``repeat_last``) or are zero, steps before it are zero (Keras semantics)."""
    steps = out.shape[1]
    t = torch.arange(steps, device=out.device).unsqueeze(0)
    start, end = spans.start.unsqueeze(1), spans.end.unsqueeze(1)
    if spans.left_aligned and not repeat_last:
        return out  # already zero after each row's block
    idx = (t - start).clamp(min=0)
    idx = torch.minimum(idx, (spans.length.unsqueeze(1) - 1).clamp(min=0))
    placed = torch.gather(out, 1, idx.unsqueeze(-1).expand_as(out))
    keep = t >= start if repeat_last else (t >= start) & (t < end)
    keep = keep & (spans.length.unsqueeze(1) > 0)
    return torch.where(keep.unsqueeze(-1), placed, 0.0)
