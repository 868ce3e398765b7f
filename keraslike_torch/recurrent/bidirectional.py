"""Keras ``Bidirectional`` for the recurrent layers (:class:`~.rnn.RNN`: LSTM, GRU, SimpleRNN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..common import tracing
from ..common.config import RecordsConfig
from .conv_lstm import ConvLSTM
from .fused import fused_call
from .packed import PackedSequence, recurrent_entry
from .rnn import RNN, StateLike

__all__ = ["Bidirectional"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(RecordsConfig, nn.Module):
    """Keras ``Bidirectional(layer, merge_mode="concat", backward_layer=None)``.

    The forward copy is ``layer`` itself; the backward copy is ``backward_layer`` or a fresh layer
    of the same configuration with ``go_backwards`` flipped. The backward sequence is flipped back
    on the time axis before merging; with ``return_sequences`` both directions output zeros at
    masked steps (Keras forces ``zero_output_for_mask``). Return values (section 1 of the spec):
    ``y``, or with ``return_state`` ``(y, *forward_states, *backward_states)``; with
    ``merge_mode=None`` ``y`` is the pair ``(y_forward, y_backward)``.

    When both directions are the same fused-kernel configuration, run forward and backward, take
    no per-gate dropout masks and the mask (if any) is one block per row, one call to torch's
    bidirectional kernel computes both directions.

    >>> import torch, keraslike_torch as kt
    >>> bi = kt.Bidirectional(kt.GRU(4, return_sequences=True))
    >>> tuple(bi(torch.zeros(2, 5, 3)).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        layer: RNN,
        merge_mode: str | None = "concat",
        backward_layer: RNN | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(layer, RNN):
            raise TypeError(f"Bidirectional wraps a keraslike_torch LSTM, GRU or SimpleRNN, got {type(layer).__name__}")
        if any(isinstance(m, ConvLSTM) for m in (layer, backward_layer)):
            raise TypeError("Bidirectional(ConvLSTM1D/2D/3D) is not supported by keraslike_torch yet")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"merge_mode must be one of concat, sum, mul, ave or None; got {merge_mode!r}")
        if backward_layer is None:
            backward_layer = layer.clone(go_backwards=not layer.go_backwards)
        elif not isinstance(backward_layer, RNN):
            raise TypeError(
                f"backward_layer must be a keraslike_torch recurrent layer, got {type(backward_layer).__name__}"
            )
        if layer.go_backwards == backward_layer.go_backwards:
            raise ValueError(
                "the forward and backward layers must have different go_backwards values, got "
                f"{layer.go_backwards} for both"
            )
        for attr in ("stateful", "return_sequences", "return_state", "time_major"):
            if getattr(layer, attr) != getattr(backward_layer, attr):
                raise ValueError(
                    f"the forward and backward layers must agree on {attr}: "
                    f"{getattr(layer, attr)} vs {getattr(backward_layer, attr)}"
                )
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.name = name
        self.output_mask: Any = None

    @property
    def return_sequences(self) -> bool:
        return self.forward_layer.return_sequences

    @property
    def return_state(self) -> bool:
        return self.forward_layer.return_state

    @property
    def stateful(self) -> bool:
        return self.forward_layer.stateful

    @property
    def states(self) -> tuple[Tensor, ...] | None:
        f, b = self.forward_layer.states, self.backward_layer.states
        return (*f, *b) if f is not None and b is not None else None

    def extra_repr(self) -> str:
        return f"merge_mode={self.merge_mode!r}"

    # ---- weights --------------------------------------------------------------------------------

    def get_keras_weights(self) -> list[np.ndarray]:
        """Forward layer's Keras weights, then the backward layer's."""
        return self.forward_layer.get_keras_weights() + self.backward_layer.get_keras_weights()

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set forward then backward Keras weights; atomic (both are checked before either is set)."""
        weights = list(weights)
        fw, bw = self.forward_layer.cell, self.backward_layer.cell
        n = len(fw.keras_weight_shapes(1))  # the two layers may differ (e.g. use_bias)
        expected = n + len(bw.keras_weight_shapes(1))
        if len(weights) != expected:
            raise ValueError(
                f"Bidirectional expects {expected} weights (forward then backward), got {len(weights)}"
            )
        fw.check_keras_weights(weights[:n])
        bw.check_keras_weights(weights[n:])
        fw.set_keras_weights(weights[:n])
        bw.set_keras_weights(weights[n:])

    def keras_gradients(self) -> list[Tensor | None]:
        return self.forward_layer.cell.keras_gradients() + self.backward_layer.cell.keras_gradients()

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return self.forward_layer.keras_weight_shapes() + self.backward_layer.keras_weight_shapes()

    def count_params(self) -> int:
        return self.forward_layer.count_params() + self.backward_layer.count_params()

    def reset_states(self, states: StateLike = None) -> None:
        if not self.stateful:
            raise AttributeError("reset_states() is only for stateful layers (stateful=True)")
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        f, b = self.forward_layer, self.backward_layer
        states = [states] if isinstance(states, Tensor) else list(states)
        n = f.state_count
        if len(states) != n + b.state_count:
            raise ValueError(
                f"Bidirectional takes {n + b.state_count} states (forward then backward), got {len(states)}"
            )
        batch = int(np.shape(states[0])[0])
        f._check_states(states[:n], batch), b._check_states(states[n:], batch)  # both before either
        f.reset_states(states[:n])
        b.reset_states(states[n:])

    reset_state = reset_states

    def compute_mask(self, inputs: Any = None, mask: Any = None) -> Any:
        """Keras propagation: the input mask with ``return_sequences`` (twice for
        ``merge_mode=None``), else None; with ``return_state`` None per state follows."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        if not self.return_sequences:
            out: Any = [None, None] if self.merge_mode is None else None
        else:
            out = [mask, mask] if self.merge_mode is None else mask
        if not self.return_state:
            return tuple(out) if isinstance(out, list) else out
        n = self.forward_layer.state_count + self.backward_layer.state_count
        return (out if isinstance(out, list) else [out]) + [None] * n

    # ---- forward ----------------------------------------------------------------------------------

    def _split_states(self, initial_state: StateLike) -> tuple[Any, Any]:
        if initial_state is None:
            return None, None
        states = [initial_state] if isinstance(initial_state, Tensor) else list(initial_state)
        n_f, n_b = self.forward_layer.state_count, self.backward_layer.state_count
        if len(states) != n_f + n_b:
            raise ValueError(
                f"Bidirectional takes {n_f + n_b} initial state tensors (forward states then "
                f"backward states), got {len(states)}"
            )
        return states[:n_f], states[n_f:]

    def _fusable(self, training: bool, has_mask: bool) -> str | None:
        f, b = self.forward_layer, self.backward_layer
        mode = f.cell.fused_mode()
        if mode is None or mode != b.cell.fused_mode() or f.use_fused is False or b.use_fused is False:
            return None
        if f.go_backwards or not b.go_backwards or f.cell.units != b.cell.units:
            return None
        if f.cell.use_bias != b.cell.use_bias:
            return None
        if training and (f.dropout or f.recurrent_dropout or b.dropout or b.recurrent_dropout):
            return None
        if has_mask:
            return None  # each direction runs the masked fused path on its own (fused.py)
        return mode

    @recurrent_entry
    def forward(
        self,
        inputs: Tensor | PackedSequence,
        mask: Any = None,
        initial_state: StateLike = None,
        training: bool | None = None,
    ) -> Tensor | tuple[Tensor, ...]:
        f, b = self.forward_layer, self.backward_layer
        x, mask_t, checked_mask = f._prepare(inputs, mask)
        b._check_input(inputs)
        training = self.training if training is None else bool(training)
        st_f, st_b = self._split_states(initial_state)
        st_f = f._initial_states(st_f, x)
        st_b = b._initial_states(st_b, x)
        zero_out = self.return_sequences  # Keras forces zero_output_for_mask = return_sequences
        mode = self._fusable(training, mask_t is not None)
        need = self.return_state or self.stateful
        if mode is not None:
            hx = tuple(torch.stack([a, c]) for a, c in zip(st_f, st_b))
            weights = f.cell.fused_weights() + b.cell.fused_weights()
            out, final = fused_call(mode, x, hx, weights, f.cell.use_bias, training, True)
            fin_f = tuple(s[0] for s in final)
            fin_b = tuple(s[1] for s in final)
            u = f.cell.units
            if self.return_sequences:
                y_f, y_b = out[..., :u], out[..., u:]
            else:
                y_f, y_b = fin_f[0], fin_b[0]
        else:
            seq_f, last_f, fin_f = f.run(x, mask_t, st_f, training, zero_out, need)
            seq_b, last_b, fin_b = b.run(x, mask_t, st_b, training, zero_out, need)
            if self.return_sequences:
                assert seq_f is not None and seq_b is not None
                y_f, y_b = seq_f, seq_b.flip(1)
            else:
                y_f, y_b = last_f, last_b
        f._store_states(fin_f)
        b._store_states(fin_b)
        if self.return_sequences and f.time_major:
            y_f, y_b = y_f.transpose(0, 1), y_b.transpose(0, 1)
        if not tracing.is_tracing():  # no tracer values left on the module
            self.output_mask = self.compute_mask(inputs, checked_mask)
        merged: Any
        if self.merge_mode == "concat":
            merged = torch.cat([y_f, y_b], -1)
        elif self.merge_mode == "sum":
            merged = y_f + y_b
        elif self.merge_mode == "ave":
            merged = (y_f + y_b) / 2
        elif self.merge_mode == "mul":
            merged = y_f * y_b
        else:
            merged = (y_f, y_b)
        if not self.return_state:
            return merged
        states = (*fin_f, *fin_b)
        if self.merge_mode is None:
            return (*merged, *states)
        return (merged, *states)
