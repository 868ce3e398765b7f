"""Python identifiers from Keras names, and ``KerasModel.forward`` with one argument per Keras input.

``inspect.signature(model.forward)`` of a loaded model lists its inputs by name (sanitized)
followed by ``mask=None``, so that exporters which bind example inputs to the signature
(``torch.onnx.export(..., dynamo=False)``, ``torch.export``) see them. The class-level function
stays ``forward(self, *inputs, mask=None, **named)``; the per-instance signature comes from a
descriptor, so nothing is stored on the instance (pickling and ``deepcopy`` are unaffected).
"""

from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["identifier", "unique_identifiers", "input_arg_names", "ForwardWithInputNames"]


def identifier(name: Any, fallback: str = "x") -> str:
    """``name`` as a plain ASCII Python identifier: characters outside ``[0-9A-Za-z_]`` become
    ``_`` (runs collapsed, none leading or trailing, so no dunder or private names), a leading
    digit gets ``fallback + "_"`` in front, a keyword gets ``_`` appended."""
    text = re.sub(r"[^0-9A-Za-z_]+", "_", str(name))
    text = re.sub(r"_+", "_", text).strip("_") or fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    if keyword.iskeyword(text) or keyword.issoftkeyword(text):
        text += "_"
    return text


def unique_identifiers(names: Iterable[Any], taken: set[str], fallback: str = "x",
                       avoid: Callable[[str], bool] | None = None) -> list[str]:
    """Sanitized, distinct identifiers for ``names`` (numbered ``_2``, ``_3``, ... on collisions
    with each other, with ``taken``, or with names ``avoid`` rejects); adds them to ``taken``."""
    out = []
    for raw in names:
        base = identifier(raw, fallback)
        name, i = base, 2
        while name in taken or (avoid is not None and avoid(name)):
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        out.append(name)
    return out


_RESERVED_ARGS = {"self", "mask"} | set(dir(builtins))


def input_arg_names(input_names: Iterable[Any]) -> list[str]:
    """The ``forward`` argument names of a model with these Keras input names."""
    return list(_arg_names(tuple(str(n) for n in input_names)))


@functools.lru_cache(maxsize=256)
def _arg_names(input_names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(unique_identifiers(input_names, set(), "input", avoid=_RESERVED_ARGS.__contains__))


def _signature(names: list[str]) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind) for n in names]
    params.append(inspect.Parameter("mask", kind, default=None))
    return inspect.Signature(params)


class _BoundForward:
    """``model.forward`` of one model: calls the class function, signature from the model."""

    __slots__ = ("__func__", "__self__")

    def __init__(self, fn: Callable[..., Any], model: Any) -> None:
        self.__func__ = fn
        self.__self__ = model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__(self.__self__, *args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return _signature(self.__self__.input_arg_names)

    def __getattr__(self, name: str) -> Any:  # __code__, __name__, ...: the function's
        if name in ("__func__", "__self__"):
            raise AttributeError(name)
        return getattr(self.__func__, name)

    def __repr__(self) -> str:
        return f"<bound forward{self.__signature__} of {type(self.__self__).__name__}>"


class ForwardWithInputNames:
    """Descriptor for ``KerasModel.forward``: on the class the plain function, on an instance a
    bound callable whose ``inspect.signature`` names the model's inputs."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self.fn
        return _BoundForward(self.fn, obj)


def bind_inputs(names: list[str], args: tuple, mask: Any, named: dict[str, Any]) -> tuple[list[Any], Any]:
    """(inputs in Keras order, mask) from a call ``forward(*args, mask=mask, **named)``: inputs
    by position or by argument name, one extra positional argument is the mask (as the signature
    lists it), and a single list or tuple of all inputs is accepted for several inputs."""
    n = len(names)
    inputs = list(args)
    if n > 1 and len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and not named:
        return list(inputs[0]), mask
    if named:
        position = {k: i for i, k in enumerate(names)}
        unknown = [k for k in named if k not in position]
        if unknown:
            raise TypeError(f"forward() got unexpected keyword arguments {unknown}; the inputs are {names}")
        filled: list[Any] = inputs + [inspect.Parameter.empty] * (n - len(inputs))
        for k, v in named.items():
            if position[k] < len(inputs):
                raise TypeError(f"forward() got multiple values for input {k!r}")
            filled[position[k]] = v
        missing = [names[i] for i, v in enumerate(filled[:n]) if v is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"forward() is missing inputs {missing}")
        inputs = filled
    if len(inputs) == n + 1 and n >= 1:
        if mask is not None:
            raise TypeError("forward() got multiple values for argument 'mask'")
        mask = inputs.pop()
    return inputs, mask
