"""Keras ``ConvLSTM1D`` / ``ConvLSTM2D`` / ``ConvLSTM3D``: the cell (:class:`ConvLSTMCell`, an
LSTM whose input and recurrent transformations are convolutions) and the layers, run over time by
:class:`~.rnn.RNN` and the sequence runner (masks, go_backwards, states, stateful, dropout are the
engine's, as for LSTM).

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
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common import precision as _precision
from ..common.config import check_weights
from ..common.precision import cast_all
from ..layers._checks import check_data_format, positive_int
from ..layers.convolutional import conv_output_length, same_padding
from .lstm import LSTMCell
from .packed import recurrent_entry
from .rnn import RNN, StateLike

__all__ = ["ConvLSTMCell", "ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _sizes(kind: str, what: str, value: Any, rank: int) -> tuple[int, ...]:
    """``value`` (an int or ``rank`` ints) as a tuple of ``rank`` positive ints."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * rank
    if len(values) != rank:
        raise ValueError(f"{kind}: {what} must be an integer or {rank} integers, got {value!r}")
    return tuple(positive_int(f"{kind}: {what}", v) for v in values)


class ConvLSTMCell(LSTMCell):
    """Keras ``ConvLSTMCell`` of rank 1, 2 or 3, channels-first inside: input ``(B, C, *spatial)``,
    states ``(B, filters, *output spatial)``. Its parameters are torch convolution weights:
    ``weight_ih (4f, C, *kernel_size)``, ``weight_hh (4f, f, *kernel_size)``, ``bias (4f,)``.

    >>> cell = ConvLSTMCell(2, 3, (3, 3), input_size=2)
    >>> [w.shape for w in cell.get_keras_weights()]
    [(3, 3, 2, 12), (3, 3, 3, 12), (12,)]
    """

    runner_order = None  # Keras's gate order [i | f | c | o] on the channel axis
    writes_out = False

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: int | Sequence[int],
        input_size: int | None = None,
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        dilation_rate: int | Sequence[int] = 1,
        **kwargs: Any,
    ) -> None:
        if rank not in (1, 2, 3):
            raise ValueError(f"ConvLSTMCell: rank must be 1, 2 or 3, got {rank!r}")
        kind = f"ConvLSTM{rank}D"
        self.rank = int(rank)
        self.keras_class = kind
        positive_int(f"{kind}: filters", filters)
        self.kernel_size = _sizes(kind, "kernel_size", kernel_size, rank)
        self.strides = _sizes(kind, "strides", strides, rank)
        self.dilation_rate = _sizes(kind, "dilation_rate", dilation_rate, rank)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{kind}: strides > 1 is not supported with dilation_rate > 1 (as in Keras)")
        super().__init__(filters, None, **kwargs)
        w = self.weight_hh
        self.weight_hh = nn.Parameter(torch.empty(4 * self.units, self.units, *self.kernel_size,
                                                  device=w.device, dtype=w.dtype))
        if input_size is not None:
            self.build(positive_int(f"{kind}: input_size", input_size))

    @property
    def filters(self) -> int:
        return self.units

    def _materialize(self, input_size: int) -> None:
        with torch.no_grad():
            self.weight_ih.materialize((4 * self.units, input_size, *self.kernel_size))  # type: ignore[attr-defined]
        self.input_size = int(input_size)

    def extra_repr(self) -> str:
        return (
            f"filters={self.units}, kernel_size={self.kernel_size}, strides={self.strides}, "
            f"padding={self.padding!r}, dilation_rate={self.dilation_rate}, input_size={self.input_size}, "
            f"activation={self.activation.name}, recurrent_activation={self.recurrent_activation.name}, "
            f"use_bias={self.use_bias}"
        )

    def fused_mode(self) -> str | None:
        return None  # no torch kernel computes a convolutional LSTM

    def uses_autograd_backward(self) -> bool:
        return True

    # ---- Keras weight layout ---------------------------------------------------------------

    def keras_weight_shapes(self, input_size: int | None = None) -> list[tuple[int, ...]]:
        d = input_size if input_size is not None else self.input_size
        if d is None:
            self._require_built()
        f = self.units
        shapes: list[tuple[int, ...]] = [(*self.kernel_size, int(d), 4 * f), (*self.kernel_size, f, 4 * f)]  # type: ignore[arg-type]
        if self.use_bias:
            shapes.append((4 * f,))
        return shapes

    def _torch_from_keras(self, arrays: Sequence[Tensor]) -> dict[str, Tensor]:
        r = self.rank
        to_torch = (r + 1, r, *range(r))  # (*k, in, out) -> (out, in, *k)
        out = {"weight_ih": arrays[0].permute(to_torch), "weight_hh": arrays[1].permute(to_torch)}
        if self.use_bias:
            out["bias"] = arrays[2]
        return out

    def _keras_from_torch(self, params: dict[str, Tensor]) -> list[Tensor]:
        to_keras = (*range(2, self.rank + 2), 1, 0)
        out = [params["weight_ih"].permute(to_keras), params["weight_hh"].permute(to_keras)]
        if self.use_bias:
            out.append(params["bias"])
        return out

    def check_keras_weights(self, weights: Sequence[Any]) -> list[Tensor]:
        d = self.input_size
        if d is None and isinstance(weights, (list, tuple)) and weights and np.ndim(weights[0]) == self.rank + 2:
            d = int(np.shape(weights[0])[self.rank])
        ref = self.weight_hh
        label = f"{self.keras_class}(filters={self.units}, kernel_size={self.kernel_size}, use_bias={self.use_bias})"
        return check_weights(label, weights, self.keras_weight_shapes(d if d is not None else 1), ref.dtype,
                             ref.device, "" if self.built else " (input channels taken from the kernel)")

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()`` arrays. Atomic: on error nothing changes."""
        tensors = self.check_keras_weights(weights)
        new = self._torch_from_keras(tensors)
        if not self.built:
            self.build(int(tensors[0].shape[self.rank]), initialize=False)
        self._assign(new)

    # ---- convolutions --------------------------------------------------------------------------

    def output_spatial(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """The states' spatial shape for an input of spatial shape ``spatial`` (Keras's
        ``compute_output_shape``); a ValueError naming the layer when the input is too small."""
        out = tuple(conv_output_length(int(n), k, self.padding, s, d) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if len(out) != self.rank or min(out) <= 0:
            raise ValueError(
                f"{self.keras_class}: an input of spatial shape {tuple(spatial)} is too small for "
                f"kernel_size={self.kernel_size}, dilation_rate={self.dilation_rate} with padding='valid'"
            )
        return out

    def input_projection(self, x: Tensor, dropout_masks: Tensor | None) -> Tensor:
        """The input convolution of every step in one call: channels-first ``x`` (B, T, C, *S) ->
        (T, B, 4f, *S'). ``dropout_masks`` (4, B, C, *S): one per gate (as Keras), applied
        through a grouped convolution (group g: gate g's kernel on the input times mask g)."""
        steps, batch = x.shape[1], x.shape[0]
        w = cast_all([self.weight_ih], x.dtype)[0]
        bias = cast_all([self.bias], x.dtype)[0] if self.use_bias else None
        xt = x.transpose(0, 1)  # time-major: (T, B, C, *S)
        groups = 1
        if dropout_masks is None:
            inp = xt.reshape(steps * batch, *x.shape[2:])
        else:
            groups = dropout_masks.shape[0]
            masked = xt.unsqueeze(2) * dropout_masks.transpose(0, 1).unsqueeze(0)  # (T, B, G, C, *S)
            inp = masked.reshape(steps * batch, groups * x.shape[2], *x.shape[3:])
        spatial = tuple(x.shape[3:])
        self.output_spatial(spatial)
        pad: Any = 0
        if self.padding == "same":
            pairs = [same_padding(n, k, s, d) for n, k, s, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
            if all(a == b for a, b in pairs):
                pad = tuple(a for a, _ in pairs)
            else:  # TensorFlow puts the odd element on the right: F.pad wants the last axis first
                inp = F.pad(inp, [p for pair in reversed(pairs) for p in pair])
        out = _CONV[self.rank](inp, w, bias, self.strides, pad, self.dilation_rate, groups)
        return out.view(steps, batch, *out.shape[1:])

    def recurrent_weights(self, dtype: torch.dtype | None = None) -> tuple[Tensor, ...]:
        return tuple(cast_all([self.weight_hh], dtype))

    def prepare_recurrent(self, rec: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
        return (rec[0],)

    def make_step(self, prep, rmask, mode):
        w, f = prep[0], self.units
        conv, inplace = _CONV[self.rank], mode != "autograd"
        ra, act = self.recurrent_activation, self.activation
        gates_elementwise = ra.elementwise
        # per-gate recurrent dropout: (B, G, f, *S') masks and a grouped convolution
        rm = rmask.transpose(0, 1).contiguous() if rmask is not None else None
        groups = rm.shape[1] if rm is not None else 1
        # "same", stride 1: symmetric for odd kernels, the odd element on the right for even ones
        pairs = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in self.kernel_size]
        even = any(a != b for a, b in pairs)
        pad = 0 if even else tuple(a for a, _ in pairs)
        flat_pad = [p for pair in reversed(pairs) for p in pair]

        def step(xp, states, extras, out):
            h, c = states
            hg = h if rm is None else (h.unsqueeze(1) * rm).flatten(1, 2)
            rec = conv(F.pad(hg, flat_pad) if even else hg, w, None, 1, pad, 1, groups)
            z = xp.add_(rec) if inplace else xp + rec
            if gates_elementwise:
                i, fg = ra(z[:, : 2 * f]).chunk(2, 1)
                o = ra(z[:, 3 * f:])
            else:
                i, fg, o = ra(z[:, :f]), ra(z[:, f: 2 * f]), ra(z[:, 3 * f:])
            c_new = torch.addcmul(fg * c, i, act(z[:, 2 * f: 3 * f]))
            return o * act(c_new), c_new

        return step


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

    @property
    def states(self) -> tuple[Tensor, ...] | None:
        """The stored states of a stateful layer in the layer's data_format (None before its
        first call)."""
        if self._states is None:
            return None
        return tuple(self._outward(s, 1) for s in self._states)

    @recurrent_entry
    def forward(
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
            return [self._inward(torch.as_tensor(np.asarray(a)), 1) for a in (m if isinstance(m, (list, tuple)) else [m])]

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
            raise ValueError(
                f"stateful {type(self).__name__} holds states of shape {tuple(self.states[0].shape)} "  # type: ignore[index]
                f"but this input needs {tuple(self._outward(torch.empty(1, *shape, device='meta'), 1).shape)}"
            )
        return super()._initial_states(None, x)

    def _check_states(self, states: Any, batch: int, shape: tuple[int, ...] | None = None) -> tuple[Tensor, ...]:
        """``[h, c]`` in the layer's data_format -> channels-first tensors of the weights' dtype."""
        kind = type(self).__name__
        if isinstance(states, (Tensor, np.ndarray)) or not isinstance(states, (list, tuple)) or len(states) != 2:
            raise ValueError(f"{kind} takes 2 initial state tensors [h, c]; got {type(states).__name__}"
                             + (f" of {len(states)}" if isinstance(states, (list, tuple)) else ""))
        w = self.cell.weight_hh
        want = None if shape is None else tuple(self._outward(torch.empty(batch, *shape, device="meta"), 1).shape)
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
