"""Keras's ``ConvLSTMCell`` (ranks 1, 2, 3): an LSTM cell whose input and recurrent
transformations are convolutions, on the :class:`~.base_cell.RecurrentCell` interface so that the
sequence runner drives it. Its layers are in :mod:`.conv_lstm`.

The input convolution uses the layer's padding, strides and dilation and runs for every step at
once (time folded into the batch); the recurrent one is always ``"same"``, stride 1, no dilation
(as in Keras 3 and tf-keras). Tensors are channels-first here (torch's convolution layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..common.config import check_weights
from ..common.precision import cast_all
from ..layers._checks import positive_int
from ..layers.convolutional import conv_output_length, same_padding, window_padding
from .lstm import LSTMCell

__all__ = ["ConvLSTMCell"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
# CPU convolutions (oneDNN) run several times faster on channels-last memory than on NCHW
_FAST_FORMAT = {1: torch.contiguous_format, 2: torch.channels_last, 3: torch.channels_last_3d}


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

    runner_order: tuple[int, ...] | None = None  # type: ignore[assignment]  # Keras's gate order [i | f | c | o] on the channel axis
    writes_out = False

    def steps_in_place(self, mode: str) -> bool:
        return False  # its own step (convolutions), not the LSTM cell's in-place one

    def extra_residual_sizes(self) -> tuple[int, ...]:
        return ()  # (the backward is autograd's: no residuals)

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
        self.output_spatial(tuple(x.shape[3:]))
        inp, pad = window_padding(inp, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        inp = inp.contiguous(memory_format=_FAST_FORMAT[self.rank])
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
        # "same", stride 1 (any length: k - 1 in all): the odd element on the right for even kernels
        pairs = [same_padding(1, k) for k in self.kernel_size]
        even = any(a != b for a, b in pairs)
        pad = 0 if even else tuple(a for a, _ in pairs)
        flat_pad = [p for pair in reversed(pairs) for p in pair]

        # Ranks 2 and 3 compute in channels-last memory (oneDNN's fast convolutions): a state
        # (B, f, *S) is then a (pixels, f) matrix and z a (pixels, 4f) one whose gates are column
        # blocks, so that the elementwise ops see rows of contiguous channels (as in the LSTM cell).
        fast = _FAST_FORMAT[self.rank]
        pixel_major = self.rank > 1
        r = self.rank
        perm, inv = (0, *range(2, r + 2), 1), (0, r + 1, *range(1, r + 1))

        def step(xp, states, extras, out):
            h, c = states
            hg = h if rm is None else (h.unsqueeze(1) * rm).flatten(1, 2)
            hg = (F.pad(hg, flat_pad) if even else hg).contiguous(memory_format=fast)
            rec = conv(hg, w, None, 1, pad, 1, groups)
            z = xp.add_(rec) if inplace else xp + rec
            if pixel_major:
                lead = z.permute(perm).shape[:-1]
                z, c = z.permute(perm).reshape(-1, 4 * f), c.permute(perm).reshape(-1, f)
            if gates_elementwise:  # one op on the whole (contiguous) z beats three strided ones
                i, fg, _, o = ra(z).chunk(4, 1)
            else:
                i, fg, o = ra(z[:, :f]), ra(z[:, f: 2 * f]), ra(z[:, 3 * f:])
            c_new = torch.addcmul(fg * c, i, act(z[:, 2 * f: 3 * f].contiguous()))
            h_new = o * act(c_new)
            if pixel_major:
                return h_new.view(*lead, f).permute(inv), c_new.view(*lead, f).permute(inv)
            return h_new, c_new

        return step
