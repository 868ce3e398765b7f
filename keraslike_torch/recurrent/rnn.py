"""Keras's ``RNN`` layer as a torch module: :class:`RNN` runs any cell over time (the families
:class:`~.lstm.LSTM`, :class:`~.gru.GRU` and :class:`~.simple_rnn.SimpleRNN` are its subclasses).

It validates inputs, masks and states,
handles ``go_backwards``, ``stateful``, dropout and the return values, and dispatches each call to
torch's fused kernel when that computes the configuration exactly (LSTM/GRU with tanh + sigmoid,
SimpleRNN with tanh/relu, masks that are one block per row) and to the sequence runner otherwise.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ..common import precision as _precision
from ..common import tracing
from ..common.config import RecordsConfig, as_bool_mask, loaded_shape
from .base_cell import RecurrentCell
from .dropout import DropoutMasks
from .fused import MaskSpans, fused_call, fused_call_masked, mask_spans, place_outputs
from .packed import PackedSequence, recurrent_entry
from .runner import scan
from .stacked import StackedRNNCells, cell_members, state_sizes

__all__ = ["RNN", "StateLike", "validate_mask"]

StateLike = Tensor | Sequence[Tensor] | None


def validate_mask(mask: Any, batch: int, steps: int, device: torch.device) -> Tensor | None:
    """Check a Keras-style (B, T) mask and return it as a bool tensor (None stays None).
    (Called with the axes swapped for ``time_major`` layers, whose masks are (T, B) as in Keras.)

    Accepts bool tensors/arrays and numeric ones holding only 0 and 1 (while tracing the values
    are not checked: nonzero counts as valid).
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    if mask.dim() != 2:
        raise ValueError(
            f"mask must have shape (batch, time) = ({batch}, {steps}); got a {mask.dim()}-D mask "
            f"of shape {tuple(mask.shape)}"
        )
    if tuple(mask.shape) != (batch, steps):
        raise ValueError(
            f"mask shape {tuple(mask.shape)} does not match the input's (batch, time) = ({batch}, {steps})"
        )
    return as_bool_mask(mask, device)


class RNN(DropoutMasks, RecordsConfig, nn.Module):
    """Runs a :class:`~keraslike_torch.cells.RecurrentCell` (or a :class:`StackedRNNCells` of them)
    over time with Keras's ``RNN`` semantics: ``kt.RNN(kt.LSTMCell(8, dropout=0.2))`` is Keras's
    ``RNN(LSTMCell(8, dropout=0.2))``; the subclasses :class:`LSTM`, :class:`GRU` and
    :class:`SimpleRNN` are the families' layers.

    A subclass naming a ``cell_class`` (a cell family: LSTM, GRU, SimpleRNN) is built from
    ``units`` and keywords instead of a cell: its ``__init__(self, units, **kwargs)`` takes the
    cell class's keywords (:meth:`RecurrentCell.keyword_parameters`) and this class's, minus
    ``omitted_keywords``, and carries that full signature (``help``, ``inspect.signature``,
    ``get_config``): one list of keywords, the cell's, serves cell and layer.

    Call: ``layer(inputs, mask=None, initial_state=None, training=None)``; ``inputs`` is
    (batch, time, features) (or (time, batch, features) with ``time_major=True``). ``training``
    defaults to ``self.training`` and only matters for dropout. Returns ``y`` or, with
    ``return_state``, ``(y, *states)``. Under ``torch.autocast`` the layer computes as if cast
    ``.to(autocast dtype)``, as ``torch.nn.LSTM`` does (:mod:`keraslike_torch.common.precision`).
    """

    cell_class: ClassVar[type[RecurrentCell] | None] = None
    omitted_keywords: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        init = cls.__dict__.get("__init__")
        if cls.__dict__.get("cell_class") is not None and init is not None:
            init.__signature__ = _family_signature(cls)  # before RecordsConfig wraps __init__
        super().__init_subclass__(**kwargs)

    def __init__(
        self,
        cell: RecurrentCell | StackedRNNCells,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zero_output_for_mask: bool = False,
        unroll: bool = False,
        time_major: bool = False,
        implementation: int = 2,
        use_fused: bool | str = "auto",
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self._set_cell_dropout(dropout=dropout, recurrent_dropout=recurrent_dropout)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; results do not depend on it
        self.time_major = bool(time_major)
        if implementation not in (0, 1, 2):
            raise ValueError(f"implementation must be 0, 1 or 2, got {implementation!r}")
        # Keras 3 switches to implementation 1 (one dropout mask per gate) with recurrent dropout.
        self.implementation = 1 if self.recurrent_dropout > 0 else int(implementation)
        if use_fused not in ("auto", True, False):
            raise ValueError(f"use_fused must be 'auto', True or False, got {use_fused!r}")
        self.use_fused = use_fused
        self.name = name
        self._states: tuple[Tensor, ...] | None = None
        self._forced_dropout_masks: tuple[Any, Any] | None = None
        self.output_mask: Tensor | None = None
        for c in cell_members(cell):
            if use_fused is True and c.fused_mode() is None:
                raise ValueError(
                    f"use_fused=True but no torch kernel computes {type(self).__name__} with "
                    f"activation={c.activation.name}, recurrent_activation={c.recurrent_activation.name}"
                    + (", reset_after=False" if getattr(c, "reset_after", True) is False else "")
                )

    def _family_keywords(self, units: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        """A cell family's constructor keywords as :class:`RNN`'s: the cell (``cell_class`` built
        from ``units``, ``input_size`` and the cell's keywords) and the layer's keywords."""
        cls = type(self)
        cell_class = cls.cell_class
        assert cell_class is not None
        for key in kwargs:
            if key in cls.omitted_keywords:
                raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {key!r}")
        names = {p.name for p in cell_class.keyword_parameters()}
        layer = dict(kwargs)
        input_size = layer.pop("input_size", None)
        cell = cell_class(units, input_size, **{k: layer.pop(k) for k in list(layer) if k in names})
        return {"cell": cell, **layer}

    # ---- Keras-like attributes ------------------------------------------------------------

    @property
    def units(self) -> int:
        return self.cell.units

    @property
    def input_size(self) -> int | None:
        return self.cell.input_size

    @property
    def state_count(self) -> int:
        return self.cell.state_count

    @property
    def states(self) -> tuple[Tensor, ...] | None:
        """The stored states of a stateful layer (None before its first call)."""
        return self._states

    def extra_repr(self) -> str:
        flags = [
            f"{k}=True"
            for k in ("return_sequences", "return_state", "go_backwards", "stateful", "time_major")
            if getattr(self, k)
        ]
        if self.dropout:
            flags.append(f"dropout={self.dropout}")
        if self.recurrent_dropout:
            flags.append(f"recurrent_dropout={self.recurrent_dropout}")
        return ", ".join(flags)

    def get_keras_weights(self) -> list[np.ndarray]:
        """Weights in Keras ``layer.get_weights()`` order, shapes and layout."""
        return self.cell.get_keras_weights()

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``layer.get_weights()``. Atomic: a ValueError naming the expected
        shapes leaves the layer unchanged. Builds an unbuilt layer from the kernel's shape."""
        self.cell.set_keras_weights(weights)

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return self.cell.keras_weight_shapes()

    def count_params(self) -> int:
        """Keras's parameter count (equals ``sum(p.numel() for p in self.parameters())``)."""
        return sum(int(np.prod(s)) for s in self.cell.keras_weight_shapes())

    def clone(self, **overrides: Any) -> RNN:
        """A new layer of the same type and configuration (fresh weights), on this layer's device
        and dtype, with ``overrides`` applied."""
        config = self.get_config()
        if "cell" in config:  # RNN(cell): a copy of the cell, with fresh weights
            cell = copy.deepcopy(self.cell)
            if cell.built:
                cell.reset_parameters()
            return type(self)(**{**config, "cell": cell, **overrides})
        w = self.cell.weight_hh
        config.update(dtype=w.dtype, device=w.device, input_size=self.cell.input_size)
        config.update(overrides)
        return type(self)(**config)

    def reset_states(self, states: StateLike = None) -> None:
        """Zero the stored states of a stateful layer (keeping their batch size), or set them to
        ``states`` (like tf-keras ``reset_states(states)``)."""
        if not self.stateful:
            raise AttributeError("reset_states() is only for stateful layers (stateful=True)")
        if states is not None:
            if self._states is not None:
                batch = self._states[0].shape[0]
            else:
                first = states[0] if isinstance(states, (list, tuple)) else states
                batch = int(np.asarray(first.shape)[0]) if hasattr(first, "shape") else 0
            new = self._check_states(states, batch)
            self._states = tuple(s.detach().clone() for s in new)
        elif self._states is not None:
            self._states = tuple(torch.zeros_like(s) for s in self._states)

    reset_state = reset_states

    # ---- input checks -----------------------------------------------------------------------

    def _check_input(self, inputs: Any) -> Tensor:
        if not isinstance(inputs, Tensor):
            raise TypeError(
                f"{type(self).__name__} expects a torch.Tensor of shape (batch, time, features), "
                f"got {type(inputs).__name__}"
            )
        if inputs.dim() != 3:
            layout = "(time, batch, features)" if self.time_major else "(batch, time, features)"
            raise ValueError(
                f"{type(self).__name__} expects a 3-D input {layout}; got shape {tuple(inputs.shape)}"
            )
        if not inputs.is_floating_point():
            raise TypeError(
                f"{type(self).__name__} expects floating-point input, got {inputs.dtype} "
                "(integer token ids need an Embedding layer first)"
            )
        x = inputs.transpose(0, 1) if self.time_major else inputs
        if x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__} got an input with 0 time steps")
        features = x.shape[2]
        if self.cell.built and features != self.cell.input_size:
            raise ValueError(
                f"{type(self).__name__} expects {self.cell.input_size} input features (last axis), "
                f"got {features} in input of shape {tuple(inputs.shape)}"
            )
        if not self.cell.built:
            self.cell.build(features)
        w = self.cell.weight_hh
        if x.dtype != w.dtype and _precision.amp_dtype(x, w) is None:
            raise TypeError(
                f"input dtype {x.dtype} does not match the layer's weights ({w.dtype}); "
                + _precision.mismatch_hint(x, w)
            )
        if x.device != w.device:
            raise ValueError(f"input is on {x.device} but the layer's weights are on {w.device}")
        return x

    def _check_states(self, states: Any, batch: int) -> tuple[Tensor, ...]:
        n, sizes = self.cell.state_count, state_sizes(self.cell)
        if isinstance(states, (Tensor, np.ndarray)):
            states = [states]
        if not isinstance(states, (list, tuple)):
            raise TypeError(
                f"initial_state must be a tensor or a list of {n} tensors, got {type(states).__name__}"
            )
        if len(states) != n:
            names = "[h, c]" if n == 2 else "[h]" if n == 1 else "the cells' states in order"
            shapes = (f"each ({batch}, {sizes[0]})" if len(set(sizes)) == 1
                      else "of shapes " + ", ".join(f"({batch}, {u})" for u in sizes))
            raise ValueError(
                f"{type(self).__name__} takes {n} initial state tensor(s) ({names}), {shapes}; got {len(states)}"
            )
        w = self.cell.weight_hh
        out = []
        for i, (s, u) in enumerate(zip(states, sizes)):
            if not isinstance(s, Tensor):
                s = torch.as_tensor(np.asarray(s))
            if tuple(s.shape) != (batch, u):
                raise ValueError(
                    f"initial_state[{i}] must have shape (batch, units) = ({batch}, {u}), "
                    f"got {tuple(s.shape)}"
                )
            if not s.is_floating_point():
                raise TypeError(f"initial_state[{i}] must be floating point, got {s.dtype}")
            out.append(s.to(device=w.device, dtype=w.dtype))
        return tuple(out)

    def _initial_states(self, initial_state: StateLike, x: Tensor) -> tuple[Tensor, ...]:
        batch = x.shape[0]
        if initial_state is not None:
            return self._check_states(initial_state, batch)
        if self.stateful and self._states is not None:
            if self._states[0].shape[0] != batch:
                raise ValueError(
                    f"stateful {type(self).__name__} holds states for batch size "
                    f"{self._states[0].shape[0]} but got batch size {batch}; call "
                    "reset_states(new_states) or use a new layer to change the batch size"
                )
            w = self.cell.weight_hh  # follow .to()/.double() made after the states were stored
            tracing.check_stateful(type(self).__name__)
            return tuple(s.to(device=w.device, dtype=w.dtype) for s in self._states)
        if self.stateful:
            tracing.check_stateful(type(self).__name__)
        if isinstance(self.cell, StackedRNNCells):
            return tuple(x.new_zeros(batch, u) for u in state_sizes(self.cell))
        zeros = x.new_zeros(batch, *self._state_feature_shape(x))
        return tuple(zeros for _ in range(self.cell.state_count))

    # ---- forward ------------------------------------------------------------------------------

    def _use_fused(self, cell: RecurrentCell, dmask: Tensor | None, rmask: Tensor | None,
                   spans: MaskSpans | None, has_mask: bool) -> bool:
        """Torch's kernels apply: a tanh/sigmoid-type cell, no per-gate dropout masks, and a mask
        (if any) not being traced (any pattern: :func:`~.fused.mask_spans`)."""
        if self.use_fused is False or cell.fused_mode() is None or rmask is not None:
            return False
        if dmask is not None and dmask.dim() != 2:
            return False
        return not has_mask or spans is not None

    @recurrent_entry
    def forward(
        self,
        inputs: Tensor | PackedSequence,
        mask: Any = None,
        initial_state: StateLike = None,
        training: bool | None = None,
    ) -> Tensor | tuple[Tensor, ...]:
        x, mask_t, checked_mask = self._prepare(inputs, mask)
        training = self.training if training is None else bool(training)
        states = self._initial_states(initial_state, x)
        seq, last, final = self.run(x, mask_t, states, training)
        self._store_states(final)
        if not tracing.is_tracing():  # no tracer values left on the module
            self.output_mask = self.compute_mask(inputs, checked_mask)
        y = seq if self.return_sequences else last
        assert y is not None
        if self.return_sequences and self.time_major:
            y = y.transpose(0, 1)
        if self.return_state:
            return (y, *final)
        return y

    def _prepare(self, inputs: Any, mask: Any) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Checked batch-major input, the (B, T) mask to compute with (None when absent or all
        valid), and the checked mask in the caller's orientation ((T, B) with ``time_major``)."""
        x = self._check_input(inputs)
        batch, steps = x.shape[0], x.shape[1]
        tracing.check_static_time(type(self).__name__, steps)
        if self.time_major:
            checked = validate_mask(mask, steps, batch, x.device)
            mask_t = checked.t() if checked is not None else None
        else:
            checked = mask_t = validate_mask(mask, batch, steps, x.device)
        if mask_t is not None and not tracing.is_tracing() and bool(mask_t.all()):
            mask_t = None  # nothing masked: the unmasked paths compute the same, faster
        return x, mask_t, checked

    def _store_states(self, final: tuple[Tensor, ...]) -> None:
        """A stateful layer keeps its final states, detached and not sharing memory with outputs
        (not while tracing: an exported program takes and returns states explicitly)."""
        if self.stateful and not tracing.is_tracing():
            self._states = tuple(s.detach().clone() for s in final)

    def compute_mask(self, inputs: Any = None, mask: Any = None) -> Any:
        """The mask the output carries (Keras propagation): the input mask with
        ``return_sequences``, else None; with ``return_state`` a list that adds None per state."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out = mask if self.return_sequences else None
        return [out] + [None] * self.cell.state_count if self.return_state else out

    def run(
        self,
        x: Tensor,
        mask: Tensor | None,
        states: tuple[Tensor, ...],
        training: bool,
        zero_output_for_mask: bool | None = None,
        need_states: bool = False,
    ) -> tuple[Tensor | None, Tensor, tuple[Tensor, ...]]:
        """Core computation on checked batch-major input: (sequence (B, T, u) in processing order
        or None, last output (B, u), final states). Final states are always computed when
        ``need_states``, ``return_state`` or ``stateful``; otherwise a masked LSTM may skip its
        final cell state (None)."""
        amp = _precision.amp_dtype(x, self.cell.weight_hh)
        if amp is not None:  # torch.autocast: compute as the layer cast .to(amp) would (precision.py)
            with _precision.autocast_off(x.device.type):
                return self.run(x.to(amp), mask, tuple(_precision.cast_all(states, amp)), training,
                                zero_output_for_mask, need_states)
        zero_out = self.zero_output_for_mask if zero_output_for_mask is None else zero_output_for_mask
        if self.go_backwards:
            x = x.flip(1)
            mask = mask.flip(1) if mask is not None else None
        members = cell_members(self.cell)
        if len(members) == 1:
            return self._run_cell(members[0], x, mask, states, training, zero_out, self.return_sequences, need_states)
        # A stack runs member by member over the whole sequence (stacked.py says why that is Keras's
        # per-step stacking): each member's sequence, in processing order, is the next one's input.
        finals: list[Tensor] = []
        seq: Tensor | None = x
        for k, cell in enumerate(members):
            mine, states = states[:cell.state_count], states[cell.state_count:]
            keep_seq = self.return_sequences or k < len(members) - 1
            assert seq is not None
            seq, last, final = self._run_cell(cell, seq, mask, mine, training, zero_out, keep_seq, need_states)
            finals.extend(final)
        return seq, last, tuple(finals)

    def _run_cell(
        self, cell: RecurrentCell, x: Tensor, mask: Tensor | None, states: tuple[Tensor, ...],
        training: bool, zero_out: bool, return_sequences: bool, need_states: bool,
    ) -> tuple[Tensor | None, Tensor, tuple[Tensor, ...]]:
        """:meth:`run` of one cell on input in processing order."""
        dmask, rmask = self._dropout_masks(x, training, cell)
        traced = tracing.is_tracing()
        # While tracing a mask always goes to the runner's functional loop (no value dispatch).
        spans = mask_spans(mask) if mask is not None and not traced and cell.fused_mode() is not None else None
        if self._use_fused(cell, dmask, rmask, spans, mask is not None):
            mode = cell.fused_mode()
            assert mode is not None
            if dmask is not None:
                x = x * dmask.unsqueeze(1)
            hx = tuple(s.unsqueeze(0) for s in states)
            weights = cell.fused_weights(x.dtype)
            if spans is None:
                out, final = fused_call(mode, x, hx, weights, cell.use_bias, training)
                final = tuple(f[0] for f in final)
                return (out if return_sequences else None), out[:, -1], final
            need = self.return_state or self.stateful or need_states
            out, final = fused_call_masked(  # type: ignore[assignment]
                mode, x, hx, weights, cell.use_bias, training, spans, need
            )
            seq = place_outputs(out, spans, repeat_last=not zero_out) if return_sequences else None
            last_valid = spans.mask[:, -1] if zero_out else spans.length > 0
            last = torch.where(last_valid.unsqueeze(1), final[0], 0.0)
            return seq, last, final
        xp = cell.input_projection(x, dmask)
        mask_tm = mask.transpose(0, 1) if mask is not None else None
        out_tm, last, final = scan(cell, xp, states, mask_tm, rmask, zero_out, return_sequences)
        seq = out_tm.transpose(0, 1) if out_tm is not None else None
        return seq, last, final

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        first = "cell.cells.0.weight_ih" if isinstance(self.cell, StackedRNNCells) else "cell.weight_ih"
        shape = loaded_shape(state_dict, prefix + first)  # None: absent or unbuilt
        if not self.cell.built and shape is not None:
            self.cell.build(int(shape[1]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


# Factory keywords close a family's signature, in this order.
_FACTORY_KEYWORDS = ("keras_version", "name", "device", "dtype")


def _family_signature(cls: type[RNN]) -> inspect.Signature:
    """``(self, units, *, input_size, <cell keywords>, <RNN keywords>, <factory keywords>)``."""
    assert cls.cell_class is not None
    par = inspect.Parameter
    head = [
        par("self", par.POSITIONAL_OR_KEYWORD),
        par("units", par.POSITIONAL_OR_KEYWORD, annotation="int"),
        par("input_size", par.KEYWORD_ONLY, default=None, annotation="int | None"),
    ]
    layer = [
        p for p in inspect.signature(RNN.__init__).parameters.values()
        if p.kind is par.KEYWORD_ONLY and p.name not in cls.omitted_keywords
    ]
    cell_keywords = cls.cell_class.keyword_parameters()
    names = {p.name for p in cell_keywords}  # dropout rates: the cell's (as in Keras)
    rest = cell_keywords + [p for p in layer if p.name not in names]
    last = sorted((p for p in rest if p.name in _FACTORY_KEYWORDS), key=lambda p: _FACTORY_KEYWORDS.index(p.name))
    return inspect.Signature(head + [p for p in rest if p.name not in _FACTORY_KEYWORDS] + last)
