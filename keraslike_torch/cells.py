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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import activations as _activations
from . import initializers as _initializers

__all__ = ["RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell"]


# --------------------------------------------------------------------------------------------
# Recurrent projections  h -> h @ W^T, optionally with one recurrent-dropout mask per gate.
# --------------------------------------------------------------------------------------------


def _project(base: Tensor | None, h: Tensor, w: Tensor, masks: Tensor | None) -> Tensor:
    """``base + h @ w.T``; with ``masks`` (G, B, u) each gate block of ``w`` sees ``h * masks[g]``."""
    if masks is None:
        return torch.addmm(base, h, w.t()) if base is not None else h @ w.t()
    g = masks.shape[0]
    wg = w.view(g, -1, w.shape[1])
    out = torch.bmm(h.unsqueeze(0) * masks, wg.transpose(1, 2)).transpose(0, 1).reshape(h.shape[0], -1)
    return out + base if base is not None else out


def _project_backward(dout: Tensor, w: Tensor, masks: Tensor | None) -> Tensor:
    """Gradient of :func:`_project` w.r.t. ``h``."""
    if masks is None:
        return dout @ w
    g = masks.shape[0]
    wg = w.view(g, -1, w.shape[1])
    dh = torch.bmm(dout.view(dout.shape[0], g, -1).transpose(0, 1), wg)
    return (dh * masks).sum(0)


def _project_weight_grad(dout: Tensor, h: Tensor, masks: Tensor | None) -> Tensor:
    """Gradient of :func:`_project` w.r.t. ``w`` summed over steps: dout (T, B, G*u), h (T, B, u)."""
    if masks is None:
        return dout.reshape(-1, dout.shape[-1]).t() @ h.reshape(-1, h.shape[-1])
    g = masks.shape[0]
    tb = dout.shape[0] * dout.shape[1]
    hm = (h.unsqueeze(0) * masks.unsqueeze(1)).reshape(g, tb, -1)
    dg = dout.reshape(tb, g, -1).transpose(0, 1)
    return torch.bmm(dg.transpose(1, 2), hm).reshape(-1, h.shape[-1])


def _gate_permutation(units: int, order: Sequence[int]) -> Tensor:
    """Row indices that reorder gate blocks: torch block ``k`` is Keras block ``order[k]``."""
    return torch.cat([torch.arange(g * units, (g + 1) * units) for g in order])


class RecurrentCell(nn.Module):
    """Base class: parameters, Keras weight layout, initialization. Subclasses add the math."""

    gates: int = 1
    state_count: int = 1
    keras_class: str = ""
    # torch block k holds Keras block keras_order[k]
    keras_order: tuple[int, ...] = (0,)

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

    @property
    def built(self) -> bool:
        return self.input_size is not None

    def build(self, input_size: int) -> None:
        """Create ``weight_ih`` for ``input_size`` features and initialize all weights (Keras)."""
        if self.built:
            if input_size != self.input_size:
                raise ValueError(
                    f"{type(self).__name__} was built for {self.input_size} input features, got {input_size}"
                )
            return
        with torch.no_grad():
            self.weight_ih.materialize((self.gates * self.units, input_size))
        self.input_size = int(input_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialize the weights with the Keras initializers (drawn in Keras's shapes)."""
        self._require_built()
        ref = self.weight_hh
        keras = []
        for shape, init in zip(self.keras_weight_shapes(), self._initializers()):
            t = torch.empty(shape, dtype=ref.dtype, device=ref.device)
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
        """Validate Keras-layout arrays against this cell and return them as tensors (no copy in)."""
        if isinstance(weights, (np.ndarray, Tensor)) or not isinstance(weights, Sequence):
            raise ValueError(
                f"{self.keras_class} weights must be a list of arrays "
                f"(Keras layer.get_weights() order), got {type(weights).__name__}"
            )
        arrays = []
        for i, w in enumerate(weights):
            if isinstance(w, Tensor):
                w = w.detach().cpu().numpy()
            try:
                a = np.asarray(w)
            except Exception as e:  # pragma: no cover - exotic objects
                raise ValueError(f"weight {i} is not an array: {e}") from None
            if a.dtype.kind != "f":
                raise ValueError(f"weight {i} has dtype {a.dtype}; expected floating-point values")
            arrays.append(a)
        d = self.input_size
        if d is None and arrays and arrays[0].ndim == 2:
            d = int(arrays[0].shape[0])
        expected = self.keras_weight_shapes(d if d is not None else 1)
        got = [tuple(a.shape) for a in arrays]
        if len(arrays) != len(expected) or any(g != e for g, e in zip(got, expected)):
            raise ValueError(
                f"{self.keras_class}(units={self.units}, use_bias={self.use_bias}) expects "
                f"{len(expected)} weights with shapes {expected}"
                + ("" if self.built else " (input size taken from the kernel)")
                + f", got {len(arrays)} with shapes {got}"
            )
        ref = self.weight_hh
        return [torch.as_tensor(a).to(device=ref.device, dtype=ref.dtype) for a in arrays]

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        """Set weights from Keras ``get_weights()`` arrays. Atomic: on error nothing changes."""
        tensors = self.check_keras_weights(weights)
        new = self._torch_from_keras(tensors)
        if not self.built:
            self.build(int(tensors[0].shape[0]))
        self._assign(new)

    def _assign(self, new: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, value in new.items():
                getattr(self, name).copy_(value)

    # ---- fused kernels -----------------------------------------------------------------------

    def fused_mode(self) -> str | None:
        """Name of the torch kernel that computes this cell exactly, or None."""
        return None

    def fused_weights(self) -> list[Tensor]:
        """``[w_ih, w_hh, b_ih, b_hh]`` (or ``[w_ih, w_hh]``) for ``torch._VF`` kernels."""
        if not self.use_bias:
            return [self.weight_ih, self.weight_hh]
        return [self.weight_ih, self.weight_hh, self.bias, self._zero_bias]

    # ---- the runner's interface ------------------------------------------------------------------

    def input_projection(self, x: Tensor, dropout_masks: Tensor | None) -> Tensor:
        """``x @ W_ih^T + b`` for all steps at once. ``dropout_masks``: (B, d) for one mask shared by
        all gates, or (G, B, d) for one mask per gate (Keras implementation=1)."""
        bias = self._input_bias()
        if dropout_masks is None:
            return F.linear(x, self.weight_ih, bias)
        if dropout_masks.dim() == 2:
            return F.linear(x * dropout_masks.unsqueeze(0), self.weight_ih, bias)
        g = self.gates
        w = self.weight_ih.view(g, self.units, -1)
        # x: (T, B, d); masks: (G, B, d) -> per gate (T, B, u)
        xg = x.unsqueeze(0) * dropout_masks.unsqueeze(1)
        out = torch.matmul(xg, w.transpose(1, 2).unsqueeze(1))  # (G, T, B, u)
        out = out.permute(1, 2, 0, 3).reshape(x.shape[0], x.shape[1], -1)
        return out + bias if bias is not None else out

    def _input_bias(self) -> Tensor | None:
        return self.bias if self.use_bias else None

    def recurrent_weights(self) -> tuple[Tensor, ...]:
        """Parameters the recurrence uses (handed to the runner's autograd function)."""
        return (self.weight_hh,)

    def uses_autograd_backward(self) -> bool:
        """True when an activation has no elementwise derivative: the runner then lets autograd
        differentiate its loop instead of using the cell's batched backward."""
        return not (self.activation.elementwise and self.recurrent_activation.elementwise)

    def step(
        self, xp: Tensor, states: tuple[Tensor, ...], rec: tuple[Tensor, ...], rmask: Tensor | None
    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """One step: (new states, residuals saved for the backward)."""
        raise NotImplementedError

    def residual_sizes(self) -> tuple[int, ...]:
        raise NotImplementedError

    def backward_prepare(self, res: list[Tensor], hist: Tensor) -> Any:
        """Elementwise derivatives for all steps at once. ``res``: stacked residuals (T, B, k);
        ``hist``: states (T+1, S, B, u), entry t being the states before step t."""
        raise NotImplementedError

    def backward_step(
        self, k: int, dnew: list[Tensor], pre: Any, hist: Tensor, rec: tuple[Tensor, ...],
        rmask: Tensor | None, dxp: Tensor, aux: Tensor | None,
    ) -> list[Tensor]:
        """Backward of step ``k``: writes d(input projection) into ``dxp[k]`` and returns the
        gradients w.r.t. the states before the step."""
        raise NotImplementedError

    def recurrent_grads(
        self, dxp: Tensor, aux: Tensor | None, pre: Any, hist: Tensor, rmask: Tensor | None
    ) -> tuple[Tensor, ...]:
        """Gradients of :meth:`recurrent_weights`, summed over all steps."""
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

    def step(self, xp, states, rec, rmask):
        h, c = states
        u = self.units
        z = _project(xp, h, rec[0], rmask)
        ra = self.recurrent_activation
        if ra.elementwise:
            s = ra(z)
            i, f, o = s[:, :u], s[:, u: 2 * u], s[:, 3 * u:]
        else:
            i, f, o = ra(z[:, :u]), ra(z[:, u: 2 * u]), ra(z[:, 3 * u:])
        c_new = torch.addcmul(f * c, i, self.activation(z[:, 2 * u: 3 * u]))
        h_new = o * self.activation(c_new)
        return (h_new, c_new), (z,)

    def residual_sizes(self):
        return (4 * self.units,)

    def backward_prepare(self, res, hist):
        (z,) = res
        u = self.units
        ra, act = self.recurrent_activation, self.activation
        s = ra(z)
        ds = ra.derivative(z, s)  # type: ignore[misc]
        zg = z[..., 2 * u: 3 * u]
        g = act(zg)
        dg = act.derivative(zg, g)  # type: ignore[misc]
        c_prev, c_new = hist[:-1, 1], hist[1:, 1]
        tc = act(c_new)
        dtc = act.derivative(c_new, tc)  # type: ignore[misc]
        i, f, o = s[..., :u], s[..., u: 2 * u], s[..., 3 * u:]
        dc_from_h = o * dtc
        coef_c = torch.cat([g * ds[..., :u], c_prev * ds[..., u: 2 * u], i * dg], -1)
        coef_o = tc * ds[..., 3 * u:]
        return dc_from_h, coef_c.view(*coef_c.shape[:-1], 3, u), coef_o, f.contiguous()

    def backward_step(self, k, dnew, pre, hist, rec, rmask, dxp, aux):
        dh, dc = dnew
        dc_from_h, coef_c, coef_o, f = pre
        u = self.units
        dc = torch.addcmul(dc, dh, dc_from_h[k])
        dz = dxp[k]
        torch.mul(dc.unsqueeze(1), coef_c[k], out=dz[:, : 3 * u].view(-1, 3, u))
        torch.mul(dh, coef_o[k], out=dz[:, 3 * u:])
        return [_project_backward(dz, rec[0], rmask), dc * f[k]]

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        return (_project_weight_grad(dxp, hist[:-1, 0], rmask),)


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

    def fused_weights(self) -> list[Tensor]:
        if not self.use_bias:
            return [self.weight_ih, self.weight_hh]
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    def _input_bias(self):
        if not self.use_bias:
            return None
        return self.bias_ih if self.reset_after else self.bias

    def recurrent_weights(self):
        if self.reset_after and self.use_bias:
            return (self.weight_hh, self.bias_hh)
        return (self.weight_hh,)

    def step(self, xp, states, rec, rmask):
        (h,) = states
        u = self.units
        ra, act = self.recurrent_activation, self.activation
        w = rec[0]
        if self.reset_after:
            r_all = _project(rec[1] if len(rec) > 1 else None, h, w, rmask)
            a_rz = xp[:, : 2 * u] + r_all[:, : 2 * u]
            rz = ra(a_rz) if ra.elementwise else torch.cat([ra(a_rz[:, :u]), ra(a_rz[:, u:])], 1)
            r, zg = rz[:, :u], rz[:, u:]
            rec_n = r_all[:, 2 * u:]
            a_n = torch.addcmul(xp[:, 2 * u:], r, rec_n)
            n = act(a_n)
            h_new = torch.addcmul(n, zg, h - n)
            return (h_new,), (a_rz, a_n, rec_n)
        a_rz = _project(xp[:, : 2 * u], h, w[: 2 * u], None if rmask is None else rmask[:2])
        rz = ra(a_rz) if ra.elementwise else torch.cat([ra(a_rz[:, :u]), ra(a_rz[:, u:])], 1)
        r, zg = rz[:, :u], rz[:, u:]
        a_n = _project(xp[:, 2 * u:], r * h, w[2 * u:], None if rmask is None else rmask[2:])
        n = act(a_n)
        h_new = torch.addcmul(n, zg, h - n)
        return (h_new,), (a_rz, a_n)

    def residual_sizes(self):
        u = self.units
        return (2 * u, u, u) if self.reset_after else (2 * u, u)

    def backward_prepare(self, res, hist):
        u = self.units
        ra, act = self.recurrent_activation, self.activation
        a_rz, a_n = res[0], res[1]
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
            rec_n = res[2]
            k_r = k_n * rec_n * dr
            coef_x = torch.cat([k_r, k_z, k_n], -1)  # d xp / d h_new
            coef_rec = torch.cat([k_r, k_z, k_n * r], -1)  # d rec / d h_new
            return coef_x, coef_rec, zg.contiguous()
        return k_n, k_z, h_prev * dr, r.contiguous(), zg.contiguous()

    def backward_step(self, k, dnew, pre, hist, rec, rmask, dxp, aux):
        (dh,) = dnew
        u = self.units
        w = rec[0]
        if self.reset_after:
            coef_x, coef_rec, zg = pre
            dh3 = dh.unsqueeze(1)
            torch.mul(dh3, coef_x[k].view(-1, 3, u), out=dxp[k].view(-1, 3, u))
            drec = aux[k]  # type: ignore[index]
            torch.mul(dh3, coef_rec[k].view(-1, 3, u), out=drec.view(-1, 3, u))
            return [torch.add(_project_backward(drec, w, rmask), dh * zg[k])]
        k_n, k_z, k_r, r, zg = pre
        d = dxp[k]
        da_n = torch.mul(dh, k_n[k], out=d[:, 2 * u:])
        drh = _project_backward(da_n, w[2 * u:], None if rmask is None else rmask[2:])
        torch.mul(drh, k_r[k], out=d[:, :u])
        torch.mul(dh, k_z[k], out=d[:, u: 2 * u])
        dh_prev = torch.addcmul(dh * zg[k], drh, r[k])
        return [dh_prev + _project_backward(d[:, : 2 * u], w[: 2 * u], None if rmask is None else rmask[:2])]

    def aux_size(self) -> int:
        return 3 * self.units if self.reset_after else 0

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        u = self.units
        h_prev = hist[:-1, 0]
        if self.reset_after:
            dw = _project_weight_grad(aux, h_prev, rmask)  # type: ignore[arg-type]
            if self.use_bias:
                return dw, aux.sum((0, 1))  # type: ignore[union-attr]
            return (dw,)
        r = pre[3]
        dw_rz = _project_weight_grad(dxp[..., : 2 * u], h_prev, None if rmask is None else rmask[:2])
        dw_n = _project_weight_grad(dxp[..., 2 * u:], r * h_prev, None if rmask is None else rmask[2:])
        return (torch.cat([dw_rz, dw_n], 0),)


class SimpleRNNCell(RecurrentCell):
    """Keras SimpleRNN cell: ``h' = activation(x @ K + b + h @ U)``."""

    gates = 1
    state_count = 1
    keras_class = "SimpleRNN"
    keras_order = (0,)

    def fused_mode(self) -> str | None:
        return {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(self.activation.name)

    def uses_autograd_backward(self) -> bool:
        return not self.activation.elementwise

    def step(self, xp, states, rec, rmask):
        (h,) = states
        a = _project(xp, h, rec[0], rmask)
        return (self.activation(a),), (a,)

    def residual_sizes(self):
        return (self.units,)

    def backward_prepare(self, res, hist):
        (a,) = res
        act = self.activation
        return (act.derivative(a, act(a)),)  # type: ignore[misc]

    def backward_step(self, k, dnew, pre, hist, rec, rmask, dxp, aux):
        (dh,) = dnew
        da = torch.mul(dh, pre[0][k], out=dxp[k])
        return [_project_backward(da, rec[0], rmask)]

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        return (_project_weight_grad(dxp, hist[:-1, 0], rmask),)
