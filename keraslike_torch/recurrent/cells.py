"""Recurrent cells: one time step's math, the weights, and Keras <-> torch weight layouts.

A cell owns its parameters in torch's fused-kernel layout (``weight_ih (G*u, d)``,
``weight_hh (G*u, u)``, gate blocks in torch's order) so that the layer can hand them straight to
``torch._VF.lstm``/``gru``/``rnn_*`` with no per-call re-layout. The conversion to and from Keras's
``get_weights()`` layout lives here, once per cell type, and everything else (initialization,
:meth:`set_keras_weights`, file loading, gradient comparison) goes through it.

The cell also provides what the sequence runner (:mod:`keraslike_torch.runner`) needs for the
configurations torch's kernels cannot compute: ``step`` (forward of one step, given the input
projection of that step) and ``backward_prepare``/``backward_step``/``recurrent_grads`` (an exact
hand-written backward whose elementwise derivatives are computed for all steps at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common import tracing
from ..common.config import LazyBuild, check_weights
from ..common.precision import cast_all

__all__ = ["RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell"]


# --------------------------------------------------------------------------------------------
# Recurrent projections  h -> h @ W^T, optionally with one recurrent-dropout mask per gate.
# --------------------------------------------------------------------------------------------


def _project(
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


def _project_backward(dout: Tensor, w: Tensor, masks: Tensor | None) -> Tensor:
    """Gradient of :func:`_project` w.r.t. ``h``; ``w`` is the untransposed weight (G*u, u_in)."""
    if masks is None:
        return dout @ w
    g = masks.shape[0]
    wg = w.view(g, -1, w.shape[1])
    dh = torch.bmm(dout.view(dout.shape[0], g, -1).transpose(0, 1), wg)
    return (dh * masks).sum(0)


def _project_weight_grad(dout: Tensor, h: Tensor, masks: Tensor | None) -> Tensor:
    """Gradient of :func:`_project` w.r.t. ``W`` summed over steps: dout (T, B, G*u), h (T, B, u)."""
    if masks is None:
        return dout.reshape(-1, dout.shape[-1]).t() @ h.reshape(-1, h.shape[-1])
    g = masks.shape[0]
    tb = dout.shape[0] * dout.shape[1]
    hm = (h.unsqueeze(0) * masks.unsqueeze(1)).reshape(g, tb, -1)
    dg = dout.reshape(tb, g, -1).transpose(0, 1)
    return torch.bmm(dg.transpose(1, 2), hm).reshape(-1, h.shape[-1])


def _inplace_or(act: _activations.Activation, scratch: bool) -> Callable[[Tensor], Tensor]:
    """The activation's in-place variant when the runner owns the tensor (scratch mode)."""
    return act.fn_ if scratch and act.fn_ is not None else act.fn


def _gate_permutation(units: int, order: Sequence[int]) -> Tensor:
    """Row indices that reorder gate blocks: torch block ``k`` is Keras block ``order[k]``."""
    return torch.cat([torch.arange(g * units, (g + 1) * units) for g in order])


class RecurrentCell(LazyBuild, nn.Module):
    """Base class: parameters, Keras weight layout, initialization. Subclasses add the math."""

    gates: int = 1
    state_count: int = 1
    keras_class: str = ""
    # torch block k holds Keras block keras_order[k]
    keras_order: tuple[int, ...] = (0,)
    # the runner's gate block k is torch block runner_order[k] (chosen to make steps cheap)
    runner_order: tuple[int, ...] | None = None
    # step() writes its output into ``out`` when given one
    writes_out: bool = False
    # parameters and buffers, registered in __init__ (declared here for type checkers)
    weight_ih: Tensor
    weight_hh: Tensor
    bias: Tensor
    bias_ih: Tensor
    bias_hh: Tensor
    _zero_bias: Tensor

    def __init__(
        self,
        units: int,
        input_size: int | None = None,
        *,
        activation: _activations.ActivationLike = "tanh",
        recurrent_activation: _activations.ActivationLike = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: _initializers.InitializerLike = "glorot_uniform",
        recurrent_initializer: _initializers.InitializerLike = "orthogonal",
        bias_initializer: _initializers.InitializerLike = "zeros",
        keras_version: int = 3,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if input_size is not None and (
            isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)) or input_size <= 0
        ):
            raise ValueError(f"input_size must be a positive integer or None, got {input_size!r}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.activation = _activations.get(activation, keras_version)
        self.recurrent_activation = _activations.get(recurrent_activation, keras_version)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self._init_config = {
            "kernel_initializer": kernel_initializer,
            "recurrent_initializer": recurrent_initializer,
            "bias_initializer": bias_initializer,
        }
        factory = {"device": device, "dtype": dtype}
        gu = self.gates * self.units
        self.input_size: int | None = None
        self.weight_ih = nn.UninitializedParameter(**factory)
        self.weight_hh = nn.Parameter(torch.empty(gu, self.units, **factory))
        for name in self._bias_names():
            setattr(self, name, nn.Parameter(torch.empty(gu, **factory)))
        # torch's kernels take two biases; Keras has one. The second is a constant zero buffer.
        self.register_buffer("_zero_bias", torch.zeros(gu, **factory), persistent=False)
        if input_size is not None:
            self.build(int(input_size))

    # ---- structure -------------------------------------------------------------------------

    def _bias_names(self) -> list[str]:
        return ["bias"] if self.use_bias else []

    def _materialize(self, input_size: int) -> None:
        with torch.no_grad():
            self.weight_ih.materialize((self.gates * self.units, input_size))  # type: ignore[attr-defined]
        self.input_size = int(input_size)
        self.flatten_parameters()

    def flatten_parameters(self) -> None:
        """On CUDA with cuDNN, put the fused kernel's weights in one contiguous buffer (as
        ``torch.nn.LSTM.flatten_parameters`` does) so that cuDNN does not copy them on every
        call. A no-op on the CPU, for cells no torch kernel computes, and before building."""
        mode = self.fused_mode()
        if mode is None or not self.built:
            return
        weights = self.fused_weights()
        first = weights[0]
        if not all(w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w) for w in weights):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights, 4 if self.use_bias else 2, int(self.input_size or 0), cudnn_rnn.get_cudnn_mode(mode),
                    self.units, 0, 1, True, False,
                )

    def _apply(self, fn: Any, recurse: bool = True) -> RecurrentCell:
        out = super()._apply(fn, recurse)
        # Every conversion (.to()/.double()/.cuda(), and to_empty() after meta-device
        # construction, which leaves the non-persistent zero bias uninitialized) goes through
        # here: re-derive the constant, then put the fused weights (which include it) in one
        # buffer again.
        self._reset_zero_bias()
        self.flatten_parameters()
        return out

    def _reset_zero_bias(self) -> None:
        zb, ref = self._zero_bias, self.weight_hh
        with torch.no_grad(), torch.inference_mode(False):
            if zb.device != ref.device or zb.dtype != ref.dtype:
                self._zero_bias = torch.zeros(zb.shape, dtype=ref.dtype, device=ref.device)
            elif not zb.is_meta:
                zb.zero_()

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        # load_state_dict(assign=True) (e.g. into a meta-device cell) replaces the weights only.
        zb, ref = self._zero_bias, self.weight_hh
        if zb.device != ref.device or zb.dtype != ref.dtype:
            self._reset_zero_bias()
            self.flatten_parameters()

    def reset_parameters(self) -> None:
        """Initialize the weights with the Keras initializers (drawn in Keras's shapes)."""
        self._require_built()
        ref = self.weight_hh
        # half types are drawn in float32 and rounded (torch's QR, for orthogonal, has no half kernel)
        dtype = torch.float32 if ref.dtype in (torch.float16, torch.bfloat16) else ref.dtype
        keras = []
        for shape, init in zip(self.keras_weight_shapes(), self._initializers()):
            t = torch.empty(shape, dtype=dtype, device=ref.device)
            keras.append(init(t))
        self._assign(self._torch_from_keras(keras))

    def _initializers(self) -> list[Any]:
        inits = [self.kernel_initializer, self.recurrent_initializer]
        if self.use_bias:
            inits.append(self.bias_initializer)
        return inits

    def _require_built(self) -> None:
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} has no input size yet: pass input_size=, call the layer once, "
                "or set Keras weights (which fixes the input size)"
            )

    def extra_repr(self) -> str:
        return (
            f"units={self.units}, input_size={self.input_size}, activation={self.activation.name}, "
            f"recurrent_activation={self.recurrent_activation.name}, use_bias={self.use_bias}"
        )

    # ---- Keras weight layout ---------------------------------------------------------------

    def keras_weight_shapes(self, input_size: int | None = None) -> list[tuple[int, ...]]:
        """Shapes of Keras ``layer.get_weights()`` for this cell."""
        d = input_size if input_size is not None else self.input_size
        if d is None:
            self._require_built()
        gu = self.gates * self.units
        shapes: list[tuple[int, ...]] = [(int(d), gu), (self.units, gu)]  # type: ignore[arg-type]
        if self.use_bias:
            shapes.append(self._keras_bias_shape())
        return shapes

    def _keras_bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _perm(self, device: Any) -> Tensor | None:
        if list(self.keras_order) == list(range(self.gates)):
            return None
        return _gate_permutation(self.units, self.keras_order).to(device)

    def _torch_from_keras(self, arrays: Sequence[Tensor]) -> dict[str, Tensor]:
        """Keras ``[kernel, recurrent_kernel, (bias)]`` -> this cell's parameters (torch layout)."""
        perm = self._perm(arrays[0].device)

        def rows(t: Tensor) -> Tensor:
            return t if perm is None else t[perm]

        out = {"weight_ih": rows(arrays[0].t()), "weight_hh": rows(arrays[1].t())}
        if self.use_bias:
            out.update(self._bias_from_keras(arrays[2], rows))
        return out

    def _keras_from_torch(self, params: dict[str, Tensor]) -> list[Tensor]:
        """Inverse of :meth:`_torch_from_keras`; also maps gradients to Keras layout."""
        perm = self._perm(params["weight_hh"].device)
        inv = None if perm is None else torch.argsort(perm)

        def rows(t: Tensor) -> Tensor:
            return t if inv is None else t[inv]

        out = [rows(params["weight_ih"]).t(), rows(params["weight_hh"]).t()]
        if self.use_bias:
            out.append(self._bias_to_keras(params, rows))
        return out

    def _bias_from_keras(self, bias: Tensor, rows: Any) -> dict[str, Tensor]:
        return {"bias": rows(bias)}

    def _bias_to_keras(self, params: dict[str, Tensor], rows: Any) -> Tensor:
        return rows(params["bias"])

    def _param_names(self) -> list[str]:
        return ["weight_ih", "weight_hh", *self._bias_names()]

    def torch_params(self) -> dict[str, Tensor]:
        return {n: getattr(self, n) for n in self._param_names()}

    def get_keras_weights(self) -> list[np.ndarray]:
        """The weights as Keras ``layer.get_weights()`` returns them (order, shapes, dtype)."""
        self._require_built()
        with torch.no_grad():
            return [t.detach().cpu().numpy().copy() for t in self._keras_from_torch(self.torch_params())]

    def keras_gradients(self) -> list[Tensor | None]:
        """``.grad`` of each parameter, mapped to the Keras weight layout (None where absent)."""
        grads = {n: p.grad for n, p in self.torch_params().items()}
        if any(g is None for g in grads.values()):
            return [None] * len(self._param_names())
        return list(self._keras_from_torch(grads))  # type: ignore[arg-type]

    def check_keras_weights(self, weights: Sequence[Any]) -> list[Tensor]:
        """Validate Keras-layout arrays against this cell and return them as tensors (no copy in).
        An unbuilt cell takes its input size from the kernel."""
        d = self.input_size
        if d is None and isinstance(weights, (list, tuple)) and weights and np.ndim(weights[0]) == 2:
            d = int(np.shape(weights[0])[0])
        expected = self.keras_weight_shapes(d if d is not None else 1)
        ref = self.weight_hh
        label = f"{self.keras_class}(units={self.units}, use_bias={self.use_bias})"
        return check_weights(label, weights, expected, ref.dtype, ref.device,
                             "" if self.built else " (input size taken from the kernel)")

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()`` arrays. Atomic: on error nothing changes."""
        tensors = self.check_keras_weights(weights)
        new = self._torch_from_keras(tensors)
        if not self.built:
            self.build(int(tensors[0].shape[0]), initialize=False)
        self._assign(new)

    def _assign(self, new: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, value in new.items():
                getattr(self, name).copy_(value)

    # ---- fused kernels -----------------------------------------------------------------------

    def fused_mode(self) -> str | None:
        """Name of the torch kernel that computes this cell exactly, or None."""
        return None

    def fused_weights(self, dtype: torch.dtype | None = None) -> list[Tensor]:
        """``[w_ih, w_hh, b_ih, b_hh]`` (or ``[w_ih, w_hh]``) for ``torch._VF`` kernels, cast to
        ``dtype`` when given (the compute dtype under autocast)."""
        if not self.use_bias:
            return cast_all([self.weight_ih, self.weight_hh], dtype)
        return cast_all([self.weight_ih, self.weight_hh, self.bias, self._zero_bias], dtype)

    # ---- the runner's interface ------------------------------------------------------------------

    def _runner_rows(self, t: Tensor) -> Tensor:
        if self.runner_order is None:
            return t
        if tracing.is_tracing():  # no cached index tensor inside a tracer: plain slices
            u = self.units
            return torch.cat([t[k * u: (k + 1) * u] for k in self.runner_order])
        cache = self.__dict__.setdefault("_runner_perm", {})
        perm = cache.get(t.device)
        if perm is None:
            # an ordinary tensor even when first made under inference_mode: autograd saves it
            with torch.inference_mode(False):
                perm = _gate_permutation(self.units, self.runner_order).to(t.device)
            cache[t.device] = perm
        return t[perm]

    def runner_gate_keras_order(self) -> list[int]:
        """For each of the runner's gate blocks, the Keras gate it is (for per-gate masks)."""
        order = self.runner_order or tuple(range(self.gates))
        return [self.keras_order[k] for k in order]

    def input_projection(self, x: Tensor, dropout_masks: Tensor | None) -> Tensor:
        """``x @ W_ih^T + b`` for all steps at once, in the runner's gate order and time-major:
        batch-major ``x`` (B, T, d) -> (T, B, G*u). ``dropout_masks``: (B, d) for one mask shared
        by all gates, or (G, B, d) for one mask per gate (Keras implementation=1). Computed in
        ``x``'s dtype (the weights are cast to it: the compute dtype under autocast)."""
        bias = self._input_bias()
        w = cast_all([self._runner_rows(self.weight_ih)], x.dtype)[0]
        if bias is not None:
            bias = cast_all([self._runner_rows(bias)], x.dtype)[0]
        if dropout_masks is None or dropout_masks.dim() == 2:
            if dropout_masks is not None:
                x = x * dropout_masks.unsqueeze(1)
            # A contiguous time-major copy of x makes this one 2-D GEMM and every step's slice
            # contiguous (strided per-step slices make the elementwise ops several times slower).
            return F.linear(x.transpose(0, 1).contiguous(), w, bias)
        wg = w.view(self.gates, self.units, -1)
        xg = x.unsqueeze(0) * dropout_masks.unsqueeze(2)  # (G, B, T, d)
        out = torch.matmul(xg, wg.transpose(1, 2).unsqueeze(1))  # (G, B, T, u)
        out = out.permute(2, 1, 0, 3).reshape(x.shape[1], x.shape[0], -1)
        return out + bias if bias is not None else out

    def _input_bias(self) -> Tensor | None:
        return self.bias if self.use_bias else None

    def recurrent_weights(self, dtype: torch.dtype | None = None) -> tuple[Tensor, ...]:
        """Parameters the recurrence uses, in the runner's gate order (handed to the runner's
        autograd function), cast to ``dtype`` when given."""
        return tuple(cast_all([self._runner_rows(self.weight_hh)], dtype))

    def prepare_recurrent(self, rec: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
        """Per-call form of :meth:`recurrent_weights` for :meth:`step` (transposed, contiguous)."""
        return (rec[0].t().contiguous(),)

    def uses_autograd_backward(self) -> bool:
        """True when an activation has no elementwise derivative: the runner then lets autograd
        differentiate its loop instead of using the cell's batched backward."""
        return not (self.activation.elementwise and self.recurrent_activation.elementwise)

    def make_step(
        self, prep: tuple[Tensor | None, ...], rmask: Tensor | None, mode: str
    ) -> Callable[[Tensor, tuple[Tensor, ...], Any, Tensor | None], tuple[Tensor, ...]]:
        """The function computing one time step: ``step(xp, states, extras, out) -> new states``
        (the output is the first state).

        ``xp``: this step's input projection (B, G*u). ``mode`` is the runner's: in "scratch" (no
        gradients) and "save" (batched backward) the runner owns ``xp`` and the step overwrites it
        with the pre-activations, which "save" keeps as residuals (plus ``extras``, buffers of
        :meth:`extra_residual_sizes`); "scratch" may also apply activations in place. In
        "autograd" the step is purely functional. Cells with ``writes_out`` write the output into
        ``out`` when given. The function is built once per sequence: the loop is dispatch-bound,
        so everything it needs is bound up front.
        """
        raise NotImplementedError

    def extra_residual_sizes(self) -> tuple[int, ...]:
        """Widths of residuals the step saves beyond the pre-activations left in ``xp``."""
        return ()

    def backward_prepare(self, z: Tensor, extras: list[Tensor], hist: Tensor) -> Any:
        """Elementwise derivatives for all steps at once. ``z``: pre-activations (T, B, G*u);
        ``hist``: states (T+1, S, B, u), entry t being the states before step t."""
        raise NotImplementedError

    def backward_step(
        self, k: int, dnew: list[Tensor], pre: Any, rec: tuple[Tensor, ...],
        rmask: Tensor | None, dxp: Tensor, aux: Tensor | None,
    ) -> list[Tensor]:
        """Backward of step ``k``: writes d(input projection) into ``dxp[k]`` and returns the
        gradients w.r.t. the states before the step (masking is the runner's business)."""
        raise NotImplementedError

    def recurrent_grads(
        self, dxp: Tensor, aux: Tensor | None, pre: Any, hist: Tensor, rmask: Tensor | None
    ) -> tuple[Tensor, ...]:
        """Gradients of :meth:`recurrent_weights`, summed over all steps (one matmul each)."""
        raise NotImplementedError

    def aux_size(self) -> int:
        """Width of an extra per-step gradient buffer the backward needs (0 for none)."""
        return 0


class LSTMCell(RecurrentCell):
    """Keras LSTM cell: gates [i | f | c | o] (same order as torch), one bias.

    >>> import keraslike_torch as kt
    >>> cell = kt.cells.LSTMCell(1, input_size=1)
    >>> [tuple(w.shape) for w in cell.get_keras_weights()]
    [(1, 4), (1, 4), (4,)]
    """

    gates = 4
    state_count = 2
    keras_class = "LSTM"
    keras_order = (0, 1, 2, 3)
    writes_out = True

    def __init__(self, units: int, input_size: int | None = None, *, unit_forget_bias: bool = True,
                 **kwargs: Any) -> None:
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, input_size, **kwargs)

    def _initializers(self) -> list[Any]:
        inits = super()._initializers()
        if self.use_bias and self.unit_forget_bias:
            base = self.bias_initializer
            u = self.units

            def bias_init(t: Tensor) -> Tensor:
                base(t[:u])
                with torch.no_grad():
                    t[u: 2 * u] = 1.0
                base(t[2 * u:])
                return t

            inits[2] = bias_init
        return inits

    def fused_mode(self) -> str | None:
        if self.activation.name == "tanh" and self.recurrent_activation.name == "sigmoid":
            return "LSTM"
        return None

    # runner gate order [o | i | f | g]: the recurrent activation covers one contiguous 3u block
    # and, in the backward, the three blocks scaled by dc are contiguous.
    runner_order = (3, 0, 1, 2)

    def make_step(self, prep, rmask, mode):
        u, wt = self.units, prep[0]
        inplace, scratch = mode != "autograd", mode == "scratch"
        fast = rmask is None and inplace
        ra, act = self.recurrent_activation, self.activation
        gate_fn = _inplace_or(ra, scratch)
        cand_fn, cell_fn = _inplace_or(act, scratch), act.fn
        sizes = (3 * u, u)
        gates_elementwise = ra.elementwise

        def step(xp, states, extras, out):
            h, c = states
            z = xp.addmm_(h, wt) if fast else _project(xp, h, wt, rmask, inplace)
            z_s, z_g = z.split(sizes, 1)
            if gates_elementwise:
                o, i, f = gate_fn(z_s).split(u, 1)
            else:
                o, i, f = (ra.fn(part) for part in z_s.split(u, 1))
            c_new = torch.addcmul(f * c, i, cand_fn(z_g))
            return torch.mul(o, cell_fn(c_new), out=out), c_new

        return step

    def backward_prepare(self, z, extras, hist):
        u = self.units
        ra, act = self.recurrent_activation, self.activation
        z_s, z_g = z[..., : 3 * u], z[..., 3 * u:]
        s = ra(z_s)
        ds = ra.derivative(z_s, s)  # type: ignore[misc]
        g = act(z_g)
        dg = act.derivative(z_g, g)  # type: ignore[misc]
        c_prev, c_new = hist[:-1, 1], hist[1:, 1]
        tc = act(c_new)
        dtc = act.derivative(c_new, tc)  # type: ignore[misc]
        o, i, f = s[..., :u], s[..., u: 2 * u], s[..., 2 * u:]
        dc_from_h = o * dtc
        coef_c = torch.cat([g * ds[..., u: 2 * u], c_prev * ds[..., 2 * u:], i * dg], -1)
        coef_o = tc * ds[..., :u]
        return dc_from_h, coef_c.view(*coef_c.shape[:-1], 3, u), coef_o, f.contiguous(), hist[:-1, 0]

    def backward_step(self, k, dnew, pre, rec, rmask, dxp, aux):
        dh, dc = dnew
        dc_from_h, coef_c, coef_o, f, _ = pre
        u = self.units
        dc = torch.addcmul(dc, dh, dc_from_h[k])
        dz = dxp[k]
        torch.mul(dh, coef_o[k], out=dz[:, :u])
        torch.mul(dc.unsqueeze(1), coef_c[k], out=dz[:, u:].view(-1, 3, u))
        return [_project_backward(dz, rec[0], rmask), dc * f[k]]

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        return (_project_weight_grad(dxp, pre[-1], rmask),)


class GRUCell(RecurrentCell):
    """Keras GRU cell. Keras gates [z | r | h]; stored here in torch's [r | z | n] order.

    ``reset_after=True`` (Keras 3 / tf.keras default) has bias (2, 3u) and equals torch.nn.GRU;
    ``reset_after=False`` (standalone Keras 2) has bias (3u,) and applies the reset gate to the
    state before the recurrent matmul.
    """

    gates = 3
    state_count = 1
    keras_class = "GRU"
    keras_order = (1, 0, 2)
    writes_out = True

    def __init__(self, units: int, input_size: int | None = None, *, reset_after: bool = True,
                 **kwargs: Any) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(units, input_size, **kwargs)

    def _bias_names(self) -> list[str]:
        if not self.use_bias:
            return []
        return ["bias_ih", "bias_hh"] if self.reset_after else ["bias"]

    def _keras_bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _bias_from_keras(self, bias, rows):
        if self.reset_after:
            return {"bias_ih": rows(bias[0]), "bias_hh": rows(bias[1])}
        return {"bias": rows(bias)}

    def _bias_to_keras(self, params, rows):
        if self.reset_after:
            return torch.stack([rows(params["bias_ih"]), rows(params["bias_hh"])])
        return rows(params["bias"])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"

    def fused_mode(self) -> str | None:
        if (
            self.reset_after
            and self.activation.name == "tanh"
            and self.recurrent_activation.name == "sigmoid"
        ):
            return "GRU"
        return None

    def fused_weights(self, dtype: torch.dtype | None = None) -> list[Tensor]:
        if not self.use_bias:
            return cast_all([self.weight_ih, self.weight_hh], dtype)
        return cast_all([self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh], dtype)

    def _input_bias(self):
        if not self.use_bias:
            return None
        return self.bias_ih if self.reset_after else self.bias

    def recurrent_weights(self, dtype=None):
        if self.reset_after and self.use_bias:
            return tuple(cast_all([self.weight_hh, self.bias_hh], dtype))
        return tuple(cast_all([self.weight_hh], dtype))

    def prepare_recurrent(self, rec):
        w = rec[0]
        if self.reset_after:
            return (w.t().contiguous(), rec[1] if len(rec) > 1 else None)
        u = self.units
        return (w[: 2 * u].t().contiguous(), w[2 * u:].t().contiguous())

    def make_step(self, prep, rmask, mode):
        u = self.units
        inplace, scratch = mode != "autograd", mode == "scratch"
        ra, act = self.recurrent_activation, self.activation
        if ra.elementwise:
            gate_fn = _inplace_or(ra, scratch)
        else:
            def gate_fn(a: Tensor) -> Tensor:
                return torch.cat([ra.fn(a[:, :u]), ra.fn(a[:, u:])], 1)
        cand_fn = _inplace_or(act, scratch)
        if self.reset_after:
            wt, b_hh = prep

            def step(xp, states, extras, out):
                (h,) = states
                x_rz, x_n = xp[:, : 2 * u], xp[:, 2 * u:]
                rec = _project(b_hh, h, wt, rmask, out=extras[0] if inplace else None)
                a_rz = x_rz.add_(rec[:, : 2 * u]) if inplace else x_rz + rec[:, : 2 * u]
                r, z = gate_fn(a_rz).split(u, 1)
                rec_n = rec[:, 2 * u:]
                a_n = x_n.addcmul_(r, rec_n) if inplace else torch.addcmul(x_n, r, rec_n)
                n = cand_fn(a_n)
                return (torch.addcmul(n, z, h - n, out=out),)

            return step
        wt_rz, wt_n = prep
        m_rz = None if rmask is None else rmask[:2]
        m_n = None if rmask is None else rmask[2:]

        def step_before(xp, states, extras, out):
            (h,) = states
            a_rz = _project(xp[:, : 2 * u], h, wt_rz, m_rz, inplace=inplace)
            r, z = gate_fn(a_rz).split(u, 1)
            a_n = _project(xp[:, 2 * u:], r * h, wt_n, m_n, inplace=inplace)
            n = cand_fn(a_n)
            return (torch.addcmul(n, z, h - n, out=out),)

        return step_before

    def extra_residual_sizes(self):
        return (3 * self.units,) if self.reset_after else ()

    def backward_prepare(self, z, extras, hist):
        u = self.units
        ra, act = self.recurrent_activation, self.activation
        a_rz, a_n = z[..., : 2 * u], z[..., 2 * u:]
        rz = ra(a_rz)
        drz = ra.derivative(a_rz, rz)  # type: ignore[misc]
        n = act(a_n)
        dn = act.derivative(a_n, n)  # type: ignore[misc]
        r, zg = rz[..., :u], rz[..., u:]
        dr, dzg = drz[..., :u], drz[..., u:]
        h_prev = hist[:-1, 0]
        k_n = (1 - zg) * dn  # d a_n / d h_new
        k_z = (h_prev - n) * dzg  # d a_z / d h_new
        if self.reset_after:
            rec_n = extras[0][..., 2 * u:]
            k_r = k_n * rec_n * dr
            coef_x = torch.cat([k_r, k_z, k_n], -1)  # d xp / d h_new
            coef_rec = torch.cat([k_r, k_z, k_n * r], -1)  # d rec / d h_new
            return coef_x, coef_rec, zg.contiguous(), h_prev
        return k_n, k_z, h_prev * dr, r.contiguous(), zg.contiguous(), h_prev

    def backward_step(self, k, dnew, pre, rec, rmask, dxp, aux):
        (dh,) = dnew
        u = self.units
        w = rec[0]
        if self.reset_after:
            coef_x, coef_rec, zg, _ = pre
            dh3 = dh.unsqueeze(1)
            torch.mul(dh3, coef_x[k].view(-1, 3, u), out=dxp[k].view(-1, 3, u))
            drec = aux[k]  # type: ignore[index]
            torch.mul(dh3, coef_rec[k].view(-1, 3, u), out=drec.view(-1, 3, u))
            return [torch.addcmul(_project_backward(drec, w, rmask), dh, zg[k])]
        k_n, k_z, k_r, r, zg, _ = pre
        d = dxp[k]
        da_n = torch.mul(dh, k_n[k], out=d[:, 2 * u:])
        drh = _project_backward(da_n, w[2 * u:], None if rmask is None else rmask[2:])
        torch.mul(drh, k_r[k], out=d[:, :u])
        torch.mul(dh, k_z[k], out=d[:, u: 2 * u])
        dh_prev = torch.addcmul(dh * zg[k], drh, r[k])
        m_rz = None if rmask is None else rmask[:2]
        return [dh_prev + _project_backward(d[:, : 2 * u], w[: 2 * u], m_rz)]

    def aux_size(self) -> int:
        return 3 * self.units if self.reset_after else 0

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        u = self.units
        h_prev = pre[-1]
        if self.reset_after:
            dw = _project_weight_grad(aux, h_prev, rmask)  # type: ignore[arg-type]
            if self.use_bias:
                return dw, aux.sum((0, 1))  # type: ignore[union-attr]
            return (dw,)
        r = pre[3]
        m_rz = None if rmask is None else rmask[:2]
        m_n = None if rmask is None else rmask[2:]
        dw_rz = _project_weight_grad(dxp[..., : 2 * u], h_prev, m_rz)
        dw_n = _project_weight_grad(dxp[..., 2 * u:], r * h_prev, m_n)
        return (torch.cat([dw_rz, dw_n], 0),)


class SimpleRNNCell(RecurrentCell):
    """Keras SimpleRNN cell: ``h' = activation(x @ K + b + h @ U)``."""

    gates = 1
    state_count = 1
    keras_class = "SimpleRNN"
    keras_order = (0,)

    def extra_repr(self) -> str:
        return (f"units={self.units}, input_size={self.input_size}, activation={self.activation.name}, "
                f"use_bias={self.use_bias}")

    def fused_mode(self) -> str | None:
        return {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(self.activation.name)

    def uses_autograd_backward(self) -> bool:
        return not self.activation.elementwise

    def make_step(self, prep, rmask, mode):
        wt, inplace = prep[0], mode != "autograd"
        fn = _inplace_or(self.activation, mode == "scratch")

        def step(xp, states, extras, out):
            return (fn(_project(xp, states[0], wt, rmask, inplace=inplace)),)

        return step

    def backward_prepare(self, z, extras, hist):
        act = self.activation
        return act.derivative(z, act(z)), hist[:-1, 0]  # type: ignore[misc]

    def backward_step(self, k, dnew, pre, rec, rmask, dxp, aux):
        (dh,) = dnew
        da = torch.mul(dh, pre[0][k], out=dxp[k])
        return [_project_backward(da, rec[0], rmask)]

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        return (_project_weight_grad(dxp, pre[-1], rmask),)
