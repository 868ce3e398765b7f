"""Inputs and transforms the recurrent layers meet at their entry, as ``torch.nn.LSTM`` does.

* :func:`recurrent_entry`: the entry of every recurrent layer's ``forward`` (RNN, Bidirectional),
  which sends each of the cases below where it belongs, and runs the call eagerly under
  ``torch.compile`` (:mod:`keraslike_torch.common.tracing`).
* :func:`forward_packed`: a :class:`~torch.nn.utils.rnn.PackedSequence` input. Its lengths become
  a post-padded Keras mask over the padded input; with ``return_sequences`` the sequence output is
  packed again with the input's ``batch_sizes``, ``sorted_indices`` and ``unsorted_indices`` (as
  ``torch.nn.LSTM`` returns it); states, and ``y`` without ``return_sequences``, are what Keras
  returns for the masked input, in the original batch order (as torch's ``h_n``).
* :func:`check_no_vmap`: ``torch.func.vmap`` over a recurrent layer raises a clear error (torch's
  fused RNN kernels have no batching rule, nor does the sequence runner's autograd function).

>>> import torch, keraslike_torch as kt
>>> from torch.nn.utils.rnn import pack_sequence
>>> lstm = kt.LSTM(2, input_size=3, return_sequences=True)
>>> seq = pack_sequence([torch.zeros(4, 3), torch.zeros(2, 3)])
>>> out = lstm(seq)
>>> type(out).__name__, out.batch_sizes.tolist()
('PackedSequence', [2, 2, 1, 1])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..common import tracing

__all__ = ["recurrent_entry", "forward_packed", "check_no_vmap", "PackedSequence"]

Forward = TypeVar("Forward", bound=Callable[..., Any])


def recurrent_entry(forward: Forward) -> Forward:
    """Decorator of a recurrent layer's ``forward(self, inputs, mask, initial_state, training)``:
    under ``torch.compile`` the call runs eagerly behind a graph break, ``vmap`` is refused
    (:func:`check_no_vmap`) and a PackedSequence goes through :func:`forward_packed`; ``forward``
    itself sees only padded tensors."""

    @functools.wraps(forward)
    def entry(self: nn.Module, inputs: Any, mask: Any = None, initial_state: Any = None,
              training: bool | None = None) -> Any:
        if tracing.is_compiling_only():  # torch.compile: the recurrence runs eagerly (tracing.py)
            return tracing.call_eagerly(type(self).forward, self, inputs, mask, initial_state, training)
        check_no_vmap(self)
        if isinstance(inputs, PackedSequence):
            return forward_packed(self, inputs, mask, initial_state, training)
        return forward(self, inputs, mask, initial_state, training)

    return cast(Forward, entry)


def _time_major(layer: nn.Module) -> bool:
    return bool(getattr(getattr(layer, "forward_layer", layer), "time_major", False))


def _sequence_outputs(layer: nn.Module) -> int:
    """How many leading outputs are sequences: two for Bidirectional(merge_mode=None)."""
    if not getattr(layer, "return_sequences", False):
        return 0
    return 2 if hasattr(layer, "forward_layer") and getattr(layer, "merge_mode", "concat") is None else 1


def forward_packed(layer: nn.Module, seq: PackedSequence, mask: Any, initial_state: Any,
                   training: bool | None) -> Any:
    """Run ``layer`` (an RNN or Bidirectional) on a PackedSequence: see the module docstring."""
    name = type(layer).__name__
    if mask is not None:
        raise ValueError(
            f"{name}: a PackedSequence input carries its mask in its lengths; pass mask=None "
            "(or a padded tensor with the mask)"
        )
    if getattr(layer, "go_backwards", False) and getattr(layer, "return_sequences", False):
        raise ValueError(
            f"{name}(go_backwards=True, return_sequences=True) outputs its sequence in reversed "
            "order, which has no PackedSequence layout; pass the padded tensor with mask= instead "
            "(or use Bidirectional, whose backward sequence is flipped back)"
        )
    time_major = _time_major(layer)
    padded, lengths = pad_packed_sequence(seq, batch_first=not time_major)  # original batch order
    steps = padded.shape[0 if time_major else 1]
    valid = torch.arange(steps, device=padded.device).unsqueeze(0) < lengths.to(padded.device).unsqueeze(1)
    out = layer.forward(padded, mask=valid.t() if time_major else valid,
                        initial_state=initial_state, training=training)
    n = _sequence_outputs(layer)
    if n == 0:
        return out
    if not isinstance(out, tuple):
        return _pack_like(out, seq, lengths, time_major)
    packed = tuple(_pack_like(y, seq, lengths, time_major) for y in out[:n])
    return (*packed, *out[n:])


def _pack_like(y: Tensor, seq: PackedSequence, lengths: Tensor, time_major: bool) -> PackedSequence:
    """Padded outputs (original batch order) packed with ``seq``'s batch sizes and indices."""
    tm = y if time_major else y.transpose(0, 1)
    if seq.sorted_indices is not None:
        tm = tm.index_select(1, seq.sorted_indices)
        lengths = lengths[seq.sorted_indices.cpu()]
    data = pack_padded_sequence(tm, lengths, enforce_sorted=True).data
    return seq._replace(data=data)


def check_no_vmap(layer: nn.Module) -> None:
    """Raise a clear error when called inside ``torch.func.vmap`` (cheap outside transforms)."""
    if torch.compiler.is_compiling():  # dynamo cannot trace the interpreter stack (export, compile)
        return
    functorch = torch._C._functorch
    if functorch.peek_interpreter_stack() is None:
        return
    stack = functorch.get_interpreter_stack() or []
    if any(i.key() == functorch.TransformType.Vmap for i in stack):
        raise RuntimeError(
            f"torch.func.vmap is not supported by keraslike_torch {type(layer).__name__}: torch's "
            "fused RNN kernels and the sequence runner have no batching rules. Batch rows are "
            "independent, so fold the mapped axis into the batch instead: "
            "layer(x.flatten(0, 1)).unflatten(0, (n, batch)) (initial states likewise); for "
            "stacked parameters (an ensemble), loop over the parameter sets with "
            "torch.func.functional_call"
        )
