"""The one place that knows whether a call is being traced, exported or compiled.

Eager calls dispatch on the values of the mask (the masked fused path needs each row's valid block,
an all-valid mask takes the unmasked path, a zero initial state saves a select per step). A
tracer records one path for every later input, so while tracing the layers take a formulation
whose ops do not depend on any tensor's values:

- ``torch.compile`` (dynamo, not exporting): the recurrent layers run eagerly behind a graph
  break (:func:`call_eagerly`): the surrounding graph is compiled, the recurrence keeps its eager
  kernels, fast backward and value-dependent dispatch (dynamo would unroll the step loop and
  AOT autograd trips over the fused kernel's mkldnn backward). Value checks elsewhere (Embedding
  ids, 0/1 masks) still run there, behind graph breaks (:func:`can_check_values`).
- ``torch.export`` (strict or not, ``torch.onnx.export(dynamo=True)``), ``torch.jit.trace``,
  ``torch.onnx.export(dynamo=False)`` and FX symbolic tracing: a mask, when given, always runs the
  sequence runner's functional loop (``torch.where`` per step); without a mask, fused
  configurations call the fused kernel and the others the same functional loop. The loop is
  unrolled over time, so the time length is fixed at export (:func:`check_static_time`). Value
  checks are skipped (a mask's nonzero entries count as valid; an out-of-range id fails in the
  lookup itself). Stateful layers take and return their states explicitly (:func:`check_stateful`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.fx import _symbolic_trace

__all__ = ["is_tracing", "is_compiling_only", "can_check_values", "call_eagerly", "check_static_time", "check_stateful"]


def _fx_tracing() -> bool:
    return bool(getattr(_symbolic_trace, "_is_fx_tracing_flag", False))  # no deprecation log


def _exporting() -> bool:
    fn = getattr(torch.compiler, "is_exporting", None)
    return bool(fn()) if fn is not None else False


def is_compiling_only() -> bool:
    """True under ``torch.compile`` (dynamo) when not exporting."""
    return torch.compiler.is_compiling() and not _exporting()


def is_tracing() -> bool:
    """True while a tracer records this call (export, jit.trace, legacy ONNX, FX): the layers then
    avoid every value-dependent branch, ``.item()`` and in-place write into outputs."""
    return (
        _exporting()
        or torch.compiler.is_compiling()
        or torch.jit.is_tracing()
        or _fx_tracing()
    )


def can_check_values() -> bool:
    """Whether value checks (``bool(tensor)``, ``.item()``) may run: eagerly, and under
    ``torch.compile`` (behind a graph break), but not while a tracer records one graph."""
    return is_compiling_only() or not is_tracing()


_REASON = (
    "keraslike_torch runs the recurrence eagerly under torch.compile (a graph break): compile with "
    "fullgraph=False, or use torch.export.export for one whole graph"
)


def _eager(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


try:  # the reason shows in torch's fullgraph=True error
    call_eagerly = torch.compiler.disable(_eager, reason=_REASON)
except TypeError:  # pragma: no cover - torch without ``reason``
    call_eagerly = torch.compiler.disable(_eager)
call_eagerly.__doc__ = """Run ``fn`` eagerly under ``torch.compile`` (a graph break around it)."""


def check_static_time(layer: str, steps: Any) -> None:
    """Refuse a symbolic (dynamic) time length while exporting: the recurrence is recorded step by
    step, so the time length is fixed in the exported program."""
    if isinstance(steps, torch.Tensor) or not (_exporting() or torch.compiler.is_compiling()):
        return  # jit traces record sizes as tensors; eager sizes are ints
    # Dynamo models SymInts as ints: only a concrete length has a statically known parity.
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    if not (statically_known_true(steps % 2 == 0) or statically_known_true(steps % 2 == 1)):
        raise ValueError(
            f"{layer}: the time dimension cannot be dynamic in an exported program (the recurrence "
            "is recorded step by step). Export with a fixed time length (dynamic batch works: "
            "dynamic_shapes={'inputs': {0: torch.export.Dim('batch')}}), and export once per "
            "time length you need."
        )


def check_stateful(layer: str) -> None:
    """Refuse implicit stored states while tracing: an exported program cannot update them, so it
    would silently replay the states seen at export time."""
    if is_tracing():
        raise ValueError(
            f"stateful {layer}: an exported or traced program cannot keep states between calls. "
            "Pass the states explicitly (initial_state=...) and return them (return_state=True), "
            "or export a stateful=False copy of the layer (layer.clone(stateful=False) with the "
            "same weights) and carry the states yourself."
        )
