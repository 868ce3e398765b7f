"""Keras ``ConvLSTM1D`` / ``ConvLSTM2D`` / ``ConvLSTM3D``: the layers, a
:class:`~.conv_lstm_cell.ConvLSTMCell` (an LSTM whose input and recurrent transformations are
convolutions) run over time by :class:`~.rnn.RNN` and the sequence runner (masks, go_backwards,
states, stateful, dropout are the engine's, as for LSTM).

Keras's weights: kernel ``(*kernel_size, in, 4f)``, recurrent_kernel ``(*kernel_size, f, 4f)``,
bias ``(4f,)``, gate blocks ``[i | f | c | o]`` on the last axis. The input convolution uses the
layer's padding, strides and dilation; the recurrent one is always ``"same"``, stride 1, no
dilation (as in Keras 3 and tf-keras). The input convolution of all steps is one call (time
folded into the batch); each step is one recurrent convolution and the gates. Inside, tensors are
channels-first (torch's convolution layout); inputs, outputs and states are in the layer's
``data_format``. Gradients come from autograd through the step loop.

>>> import torch, keraslike_torch as kt
>>> layer = kt.ConvLSTM2D(4, 3, padding="same", return_sequences=True, return_state=True)
>>> seq, h, c = layer(torch.zeros(2, 5, 8, 8, 3))
>>> tuple(seq.shape), tuple(h.shape), layer.count_params()
((2, 5, 8, 8, 4), (2, 8, 8, 4), 1024)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from .. import activations as _activations
from .. import initializers as _initializers
from ..common import precision as _precision
from ..common import tracing
from ..common.config import as_bool_mask
from ..layers._checks import check_data_format
from .conv_lstm_cell import ConvLSTMCell
from .packed import recurrent_entry
from .rnn import RNN, StateLike

__all__ = ["ConvLSTMCell", "ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


class ConvLSTM(RNN):
    """Keras's ``ConvLSTM`` base: a :class:`ConvLSTMCell` run over time. Use
    :class:`ConvLSTM1D`, :class:`ConvLSTM2D` or :class:`ConvLSTM3D`.

    Input ``(batch, time, *spatial, channels)`` (``(batch, time, channels, *spatial)`` with
    ``data_format="channels_first"``); ``mask`` is ``(batch, time)`` as for LSTM; states and
    outputs have ``filters`` channels and the input convolution's spatial shape. Returns ``y`` or,
    with ``return_state``, ``(y, h, c)``. Keras's ``recurrent_activation`` default is
    ``"sigmoid"`` in Keras 3 and ``"hard_sigmoid"`` (0.2 slope) in tf-keras; this default is
    Keras 3's (pass ``keras_version=2`` to mean the 0.2 slope by ``"hard_sigmoid"``).
    """

    rank: ClassVar[int] = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: int | Sequence[int] = 1,
        activation: _activations.ActivationLike = "tanh",
        recurrent_activation: _activations.ActivationLike = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: _initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: _initializers.InitializerLike = "orthogonal",
        bias_initializer: _initializers.InitializerLike = "zeros",
        unit_forget_bias: bool = True,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        zero_output_for_mask: bool = False,
        unroll: bool = False,
        input_size: int | None = None,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        kind = type(self).__name__
        self.data_format = check_data_format(data_format, kind)
        cell = ConvLSTMCell(
            self.rank, filters, kernel_size, input_size, strides=strides, padding=padding,
            dilation_rate=dilation_rate, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, keras_version=keras_version, device=device, dtype=dtype,
        )
        # implementation=1: one dropout mask per gate, as Keras's ConvLSTM cells always draw
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, dropout=dropout, recurrent_dropout=recurrent_dropout,
            zero_output_for_mask=zero_output_for_mask, unroll=unroll, implementation=1, name=name,
        )

    @property
    def keras_class(self) -> str:
        return self.cell.keras_class

    @property
    def filters(self) -> int:
        return self.cell.units

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return self.cell.kernel_size  # type: ignore[return-value]

    @property
    def strides(self) -> tuple[int, ...]:
        return self.cell.strides  # type: ignore[return-value]

    @property
    def padding(self) -> str:
        return self.cell.padding  # type: ignore[return-value]

    @property
    def dilation_rate(self) -> tuple[int, ...]:
        return self.cell.dilation_rate  # type: ignore[return-value]

    def extra_repr(self) -> str:
        flags = super().extra_repr()
        return ", ".join(p for p in (flags, "data_format='channels_first'"
                                     if self.data_format == "channels_first" else "") if p)

    # ---- layouts: the user's data_format outside, channels-first inside -------------------------

    def _inward(self, t: Tensor, lead: int) -> Tensor:
        """A tensor in the layer's data_format -> channels-first after ``lead`` leading axes."""
        return t.movedim(-1, lead) if self.data_format == "channels_last" else t

    def _outward(self, t: Tensor, lead: int) -> Tensor:
        return t.movedim(lead, -1) if self.data_format == "channels_last" else t

    def _user_shape(self, batch: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A state's shape in the layer's data_format from its channels-first ``(f, *S)``."""
        return (batch, *shape[1:], shape[0]) if self.data_format == "channels_last" else (batch, *shape)

    @property
    def states(self) -> tuple[Tensor, ...] | None:
        """The stored states of a stateful layer in the layer's data_format (None before its
        first call)."""
        if self._states is None:
            return None
        return tuple(self._outward(s, 1) for s in self._states)

    @recurrent_entry
    def forward(  # type: ignore[override]  # no PackedSequence: a ConvLSTM input is (B, T, *S, C)
        self,
        inputs: Tensor,
        mask: Any = None,
        initial_state: StateLike = None,
        training: bool | None = None,
    ) -> Tensor | tuple[Tensor, ...]:
        kind, n = type(self).__name__, self.rank + 3
        if not isinstance(inputs, Tensor):
            raise TypeError(f"{kind} expects a torch.Tensor, got {type(inputs).__name__}")
        if inputs.dim() != n:
            axes = "(batch, time, *spatial, channels)" if self.data_format == "channels_last" \
                else "(batch, time, channels, *spatial)"
            raise ValueError(f"{kind} expects a {n}-D input {axes}; got shape {tuple(inputs.shape)}")
        out = _RNN_FORWARD(self, self._inward(inputs, 2), mask, initial_state, training)
        if not isinstance(out, tuple):
            return self._outward(out, 2 if self.return_sequences else 1)
        y, *states = out
        return (self._outward(y, 2 if self.return_sequences else 1), *(self._outward(s, 1) for s in states))

    def _prepare(self, inputs: Any, mask: Any) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """As :class:`RNN`'s, and also Keras's per-position masks: ``Masking`` before a ConvLSTM
        gives a (B, T, *spatial) mask, which Keras applies to each position of the states (they
        must have the input's spatial shape: padding='same', strides 1)."""
        if mask is None or np.ndim(mask) == 2:
            return super()._prepare(inputs, mask)
        kind = type(self).__name__
        x = self._check_input(inputs)
        tracing.check_static_time(kind, x.shape[1])
        m = as_bool_mask(mask, x.device)
        spatial = tuple(x.shape[3:])
        if tuple(m.shape) != (x.shape[0], x.shape[1], *spatial):
            raise ValueError(
                f"{kind}: mask must have shape (batch, time) = {tuple(x.shape[:2])} or (batch, time, "
                f"*spatial) = {(*x.shape[:2], *spatial)}; got {tuple(m.shape)}"
            )
        if self._state_feature_shape(x)[1:] != spatial:
            raise ValueError(
                f"{kind}: a per-position mask of shape {tuple(m.shape)} needs states of the input's "
                f"spatial shape {spatial} (padding='same', strides=1); these are "
                f"{self._state_feature_shape(x)[1:]}"
            )
        if not tracing.is_tracing() and bool(m.all()):
            return x, None, m
        return x, m.unsqueeze(2), m

    def _check_input(self, inputs: Any) -> Tensor:
        """Checks of the channels-first input (B, T, C, *S); builds the cell from C."""
        kind = type(self).__name__
        x = inputs
        if not x.is_floating_point():
            raise TypeError(f"{kind} expects floating-point input, got {x.dtype}")
        if x.shape[1] == 0:
            raise ValueError(f"{kind} got an input with 0 time steps")
        channels = x.shape[2]
        if self.cell.built and channels != self.cell.input_size:
            raise ValueError(f"{kind} expects {self.cell.input_size} input channels, got {channels}")
        self.cell.output_spatial(x.shape[3:])  # type: ignore[operator]
        if not self.cell.built:
            self.cell.build(channels)
        w = self.cell.weight_hh
        if x.dtype != w.dtype and _precision.amp_dtype(x, w) is None:
            raise TypeError(f"input dtype {x.dtype} does not match the layer's weights ({w.dtype}); "
                            + _precision.mismatch_hint(x, w))
        if x.device != w.device:
            raise ValueError(f"input is on {x.device} but the layer's weights are on {w.device}")
        return x

    def _forced_masks(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Masks forced by :func:`keraslike_torch.testing.dropout_masks`, in Keras's layout (one
        per gate, each shaped like a step's input or state in the layer's data_format)."""
        forced = self._forced_dropout_masks
        assert forced is not None

        def inward(m: Any) -> list[Tensor] | None:
            if m is None:
                return None
            arrays = m if isinstance(m, (list, tuple)) else [m]
            return [self._inward(torch.as_tensor(np.asarray(a)), 1) for a in arrays]

        self._forced_dropout_masks = (inward(forced[0]), inward(forced[1]))
        try:
            return super()._forced_masks(x)
        finally:
            self._forced_dropout_masks = forced

    def _state_feature_shape(self, x: Tensor) -> tuple[int, ...]:
        return (self.cell.units, *self.cell.output_spatial(x.shape[3:]))  # type: ignore[operator]

    def _initial_states(self, initial_state: StateLike, x: Tensor) -> tuple[Tensor, ...]:
        shape = self._state_feature_shape(x)
        if initial_state is not None:
            return self._check_states(initial_state, x.shape[0], shape)
        if self.stateful and self._states is not None and tuple(self._states[0].shape[1:]) != shape:
            held = self._user_shape(self._states[0].shape[0], tuple(self._states[0].shape[1:]))
            raise ValueError(
                f"stateful {type(self).__name__} holds states of shape {held} but this input needs "
                f"{self._user_shape(held[0], shape)}; call reset_states(new_states) or use a new layer"
            )
        return super()._initial_states(None, x)

    def _check_states(self, states: Any, batch: int, shape: tuple[int, ...] | None = None) -> tuple[Tensor, ...]:
        """``[h, c]`` in the layer's data_format -> channels-first tensors of the weights' dtype."""
        kind = type(self).__name__
        if isinstance(states, (Tensor, np.ndarray)) or not isinstance(states, (list, tuple)) or len(states) != 2:
            raise ValueError(f"{kind} takes 2 initial state tensors [h, c]; got {type(states).__name__}"
                             + (f" of {len(states)}" if isinstance(states, (list, tuple)) else ""))
        w = self.cell.weight_hh
        want = None if shape is None else self._user_shape(batch, shape)
        out = []
        for i, s in enumerate(states):
            s = s if isinstance(s, Tensor) else torch.as_tensor(np.asarray(s))
            ok = s.dim() == self.rank + 2 and s.shape[0] == batch and \
                s.shape[-1 if self.data_format == "channels_last" else 1] == self.cell.units
            if not ok or (want is not None and tuple(s.shape) != want):
                raise ValueError(
                    f"{kind}: initial_state[{i}] must have shape {want or ('batch', '...', 'filters')}"
                    f" ({self.data_format}), got {tuple(s.shape)}"
                )
            if not s.is_floating_point():
                raise TypeError(f"{kind}: initial_state[{i}] must be floating point, got {s.dtype}")
            out.append(self._inward(s.to(device=w.device, dtype=w.dtype), 1))
        return tuple(out)


_RNN_FORWARD = RNN.forward.__wrapped__  # type: ignore[attr-defined]


class ConvLSTM1D(ConvLSTM):
    """Keras ``ConvLSTM1D``: input ``(batch, time, steps, channels)``.

    >>> import torch
    >>> ConvLSTM1D(2, 3, padding="same")(torch.zeros(1, 4, 6, 3)).shape
    torch.Size([1, 6, 2])
    """

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """Keras ``ConvLSTM2D``: input ``(batch, time, rows, cols, channels)``.

    >>> import torch
    >>> ConvLSTM2D(2, (3, 2), strides=2)(torch.zeros(1, 4, 7, 6, 3)).shape
    torch.Size([1, 3, 3, 2])
    """

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """Keras ``ConvLSTM3D``: input ``(batch, time, depth, rows, cols, channels)``.

    >>> import torch
    >>> ConvLSTM3D(2, 2, padding="same")(torch.zeros(1, 3, 4, 4, 4, 1)).shape
    torch.Size([1, 4, 4, 4, 2])
    """

    rank = 3
