"""The base of the recurrent cells (:class:`RecurrentCell`): weights, Keras <-> torch weight
layouts, and what the sequence runner asks of every cell (the projection helpers its steps and
backward use are in :mod:`.projection`). The cells themselves live
with their layers (:mod:`.lstm`, :mod:`.gru`, :mod:`.simple_rnn`), as in Keras.

A cell owns its parameters in torch's fused-kernel layout (``weight_ih (G*u, d)``,
``weight_hh (G*u, u)``, gate blocks in torch's order) so that the layer can hand them straight to
``torch._VF.lstm``/``gru``/``rnn_*`` with no per-call re-layout. The conversion to and from Keras's
``get_weights()`` layout lives here, once per cell type, and everything else (initialization,
:meth:`set_keras_weights`, file loading, gradient comparison) goes through it.

The cell also provides what the sequence runner (:mod:`.runner`) needs for the
configurations torch's kernels cannot compute: ``step`` (forward of one step, given the input
projection of that step) and ``backward_prepare``/``backward_step``/``recurrent_grads`` (an exact
hand-written backward whose elementwise derivatives are computed for all steps at once).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import activations as _activations
from .. import initializers as _initializers
from ..common.config import LazyBuild, check_rate, check_weights
from ..common.precision import cast_all

__all__ = ["RecurrentCell"]


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
    # constructor keywords the class sets itself (SimpleRNNCell: no recurrent activation)
    fixed_keywords: ClassVar[dict[str, Any]] = {}

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
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
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
        # Keras keeps the dropout rates on the cell; the layer running it draws the masks.
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
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

    @classmethod
    def keyword_parameters(cls) -> list[inspect.Parameter]:
        """The keyword-only constructor parameters of this cell class: the base's, then each
        subclass's additions (a subclass passes the base's on with ``**kwargs``), minus
        ``fixed_keywords``. The layer of a cell family takes exactly these (``RNN.cell_class``).

        >>> from keraslike_torch.recurrent import GRUCell
        >>> [p.name for p in GRUCell.keyword_parameters()][-4:]
        ['keras_version', 'device', 'dtype', 'reset_after']
        """
        params: dict[str, inspect.Parameter] = {}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or not issubclass(klass, RecurrentCell):
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in cls.fixed_keywords:
                    params.setdefault(p.name, p)
        return list(params.values())

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
        # block slices joined (not an index gather: its backward, an accumulating index_put, took
        # 1 ms per (512, 128) weight on CPU; a cat's backward is slices)
        u = self.units
        return torch.cat([t[k * u: (k + 1) * u] for k in self.runner_order])

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

    def step_inputs(self, xp: Tensor, mode: str) -> Sequence[Any]:
        """What :meth:`make_step`'s function gets as ``xp`` at each step (the runner's ``mode``):
        the step's slice of the projection (T, B, G*u); a cell whose step activates its gate
        blocks in place (:meth:`steps_in_place`) gets views of them too, made up front."""
        return xp.unbind(0)

    def steps_in_place(self, mode: str) -> bool:
        """Whether the step activates its gate blocks in place, on views from :meth:`step_inputs`:
        without gradients (the runner owns ``xp``) and when both activations have in-place forms."""
        return mode == "scratch" and self.recurrent_activation.fn_ is not None and self.activation.fn_ is not None

    @staticmethod
    def views_per_step(*blocks: Tensor) -> list[tuple[Tensor, ...]]:
        """For (T, ...) tensors ``blocks``, the tuple of their step-k slices for every k (one unbind
        each: the loop is dispatch-bound)."""
        return list(zip(*(b.unbind(0) for b in blocks)))

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

    def gate_derivatives(self, z: Tensor, width: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """For :meth:`backward_prepare`: the recurrent activation and its derivative over the first
        ``width`` columns of the pre-activations ``z``, then the activation and its derivative over
        the rest (the candidate block)."""
        ra, act = self.recurrent_activation, self.activation
        z_s, z_g = z[..., :width], z[..., width:]
        s, g = ra(z_s), act(z_g)
        return s, ra.derivative(z_s, s), g, act.derivative(z_g, g)  # type: ignore[misc]

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

