"""A Keras-style ``model.summary()`` table for torch modules, with Keras's parameter counts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..porting.layouts import count_params

__all__ = ["summary", "count_params"]


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()


def _is_layer(m: nn.Module) -> bool:
    return hasattr(m, "get_keras_weights") or len(list(m.children())) == 0


def _layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    keras_layers = getattr(module, "keras_layers", None)
    if callable(keras_layers):  # a converted Keras model: its layers, nested models as one row
        return [(name, m) for name, m in keras_layers() if not type(m).__name__ == "KerasOp"]
    if _is_layer(module):
        return [("", module)]
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, m: nn.Module) -> None:
        for name, child in m.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if _is_layer(child):
                found.append((path, child))
            else:
                walk(path, child)

    walk("", module)
    return found


def _shape_of(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (list, tuple)):
        return [_shape_of(o) for o in out]
    return None


def _merge(a: Any, b: Any) -> Any:
    """Dimensions that differ between two dry runs are free (None)."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return tuple(x if x == y else None for x, y in zip(a, b))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_merge(x, y) for x, y in zip(a, b)]
    return a


def _fmt_shape(shape: Any) -> str:
    if isinstance(shape, tuple):
        inner = ", ".join("None" if d is None else str(d) for d in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    return "?"


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    parts = re.split(r"(?<=\)), ", text)
    lines, cur = [], ""
    for i, p in enumerate(parts):
        piece = p + ("," if i < len(parts) - 1 else "")
        if cur and len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    lines.append(cur)
    return lines


def _memory(nbytes: float) -> str:
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def _dummy(shape: Sequence[Any], free: int, dtype: torch.dtype, device: torch.device,
           integer: bool) -> torch.Tensor:
    dims = [free + i if d is None else int(d) for i, d in enumerate(shape)]
    if integer:
        return torch.zeros(dims, dtype=torch.long, device=device)
    return torch.zeros(dims, dtype=dtype, device=device)


def summary(
    module: nn.Module,
    input_shape: Sequence[Any] | Sequence[Sequence[Any]],
    *,
    dtype: torch.dtype | None = None,
    name: str | None = None,
    print_fn: Callable[[str], Any] | None = print,
) -> str:
    """Print (and return) a Keras 3-style summary table: layer name and type, output shape and
    Keras's parameter count per layer, then the totals.

    ``input_shape`` includes the batch axis, e.g. ``(None, 3, 1)``; ``None`` marks free axes. A
    list of shapes means several inputs. The module runs twice on zeros (in eval mode, without
    gradients) to find the output shapes; axes that change between the runs print as ``None``.

    >>> import keraslike_torch as kt
    >>> text = kt.summary(kt.LSTM(1), (None, 3, 1), print_fn=None)
    >>> "Total params: 12 (48.00 B)" in text
    True
    """
    shapes = list(input_shape)
    multi = len(shapes) > 0 and isinstance(shapes[0], (list, tuple))
    input_shapes = [tuple(s) for s in shapes] if multi else [tuple(shapes)]
    params = [p for p in module.parameters() if not isinstance(p, nn.UninitializedParameter)]
    device = params[0].device if params else torch.device("cpu")
    dtype = dtype or (params[0].dtype if params else torch.get_default_dtype())
    integer_inputs = getattr(module, "integer_inputs", None) or [False] * len(input_shapes)

    layers = _layers(module)
    records: dict[int, list[Any]] = {}
    order: list[int] = []

    def hook(idx: int) -> Callable[..., None]:
        def fn(_m: nn.Module, _inp: Any, out: Any) -> None:
            if idx not in records:
                records[idx] = []
                order.append(idx)
            records[idx].append(_shape_of(out))

        return fn

    handles = [m.register_forward_hook(hook(i)) for i, (_, m) in enumerate(layers)]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            # stateful layers keep their states: the dry runs must not change them
            saved = [(m, m._states) for m in module.modules() if getattr(m, "stateful", False)]
            try:
                for free in (2, 3):
                    module(*[_dummy(s, free, dtype, device, bool(i))
                             for s, i in zip(input_shapes, integer_inputs)])
            finally:
                for m, states in saved:
                    m._states = states
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()

    rows = []
    total_t = total_n = 0
    for idx in order:
        path, m = layers[idx]
        runs = records[idx]
        shape = _merge(runs[0], runs[-1]) if len(runs) > 1 else runs[0]
        t, n = count_params(m)
        total_t += t
        total_n += n
        tail = path.split(".")[-1] if path else ""
        layer_name = getattr(m, "name", None) or (tail if tail and not tail.isdigit() else _snake(type(m).__name__))
        rows.append((f"{layer_name} ({type(m).__name__})", _fmt_shape(shape), t + n))

    widths = (33, 24, 15)
    inner = [w - 2 for w in widths]

    def line(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * w for w in widths) + right

    out = [f'Model: "{name or getattr(module, "name", None) or _snake(type(module).__name__)}"']
    out.append(line("┏", "┳", "┓", "━"))
    out.append("┃ " + "Layer (type)".ljust(inner[0]) + " ┃ " + "Output Shape".ljust(inner[1])
               + " ┃ " + "Param #".rjust(inner[2]) + " ┃")
    out.append(line("┡", "╇", "┩", "━"))
    for r, (lname, oshape, count) in enumerate(rows):
        names = _wrap(lname, inner[0])
        shapes_ = _wrap(oshape, inner[1])
        for j in range(max(len(names), len(shapes_))):
            a = names[j] if j < len(names) else ""
            b = shapes_[j] if j < len(shapes_) else ""
            c = f"{count:,}" if j == 0 else ""
            out.append("│ " + a.ljust(inner[0]) + " │ " + b.ljust(inner[1]) + " │ " + c.rjust(inner[2]) + " │")
        if r < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    itemsize = torch.empty((), dtype=dtype).element_size()
    total = total_t + total_n
    out.append(f" Total params: {total:,} ({_memory(total * itemsize)})")
    out.append(f" Trainable params: {total_t:,} ({_memory(total_t * itemsize)})")
    out.append(f" Non-trainable params: {total_n:,} ({_memory(total_n * itemsize)})")
    text = "\n".join(out)
    if print_fn is not None:
        print_fn(text)
    return text
