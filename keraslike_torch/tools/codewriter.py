"""Source-writing pieces for :mod:`keraslike_torch.codegen`: literals, function bodies.

Every value from a Keras file is written through :func:`literal` (strings via ``ascii()``) or
as an identifier from :func:`keraslike_torch.signature.identifier`; nothing else reaches the code.
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..activations import Activation
from ..common.signature import identifier, unique_identifiers
from ..porting.graph import flatten

MODULE_NAMES = {"annotations", "Path", "torch", "load_file", "nn", "kt", "load", "SOURCE", "CONVERTER",
                 "core", "conv", "convert_layer", "self", "dtype"}
RESERVED = MODULE_NAMES | set(dir(builtins)) | set(keyword.kwlist)


# ---- literals --------------------------------------------------------------------------------


def clean(v: Any) -> Any:
    """Keras serialization noise out of initializer configs: {"class_name", "config"} only."""
    if isinstance(v, dict) and "class_name" in v:
        cfg = {k: x for k, x in (v.get("config") or {}).items() if x is not None}
        return {"class_name": v["class_name"], "config": cfg} if cfg else v["class_name"]
    return v


def non_default(cls: type, config: dict) -> dict:
    """Only the keywords that differ from the constructor's defaults, in signature order."""
    params = inspect.signature(cls).parameters
    out = {}
    for k, v in config.items():
        v = clean(v)
        p = params.get(k)
        if p is not None and p.default is not inspect.Parameter.empty:
            try:
                if v == p.default or (isinstance(v, str) and clean(p.default) == v):
                    continue
            except Exception:
                pass
        out[k] = v
    return out


class Code(str):
    """A piece of generated code (a local name) inside a value structure."""


def literal(v: Any) -> str:
    """A Python literal for a config value: strings through ``ascii()``, numbers, containers."""
    if isinstance(v, Code):
        return str(v)
    if isinstance(v, torch.dtype):
        return f"torch.{identifier(str(v).split('.')[-1])}"
    if isinstance(v, torch.device):
        return ascii(str(v)) if v.type != "cpu" else "None"
    if isinstance(v, Activation):
        return ascii(v.name)
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({ascii(str(v))})"
    if v is None or isinstance(v, (bool, int, float, str)):
        return ascii(v)
    if isinstance(v, (list, tuple)):
        body = ", ".join(literal(x) for x in v)
        if isinstance(v, tuple):
            return f"({body},)" if len(v) == 1 else f"({body})"
        return f"[{body}]"
    if isinstance(v, dict):
        for k in v:
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"cannot write a {type(k).__name__} dict key into generated code")
        return "{" + ", ".join(f"{literal(k)}: {literal(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} values into generated code")


def uses_of(struct: Any) -> set[str]:
    return {str(x) for x in flatten(struct) if isinstance(x, Code)}


# ---- one function body -------------------------------------------------------------------------


@dataclass
class Line:
    targets: list[str | None]  # None: an output nobody reads
    expr: str
    uses: set[str]
    is_mask: bool = False
    unpack: bool = False  # ``a, b = ...`` (also for one target: ``a, = ...``)


@dataclass
class Body:
    names: set[str]
    lines: list[Line] = field(default_factory=list)

    def new(self, base: str) -> str:
        return unique_identifiers([base], self.names, "x", avoid=RESERVED.__contains__)[0]

    def emit(self, targets: list[str | None], expr: str, uses: set[str], is_mask: bool = False,
             unpack: bool = False) -> None:
        self.lines.append(Line(targets, expr, uses, is_mask, unpack))

    def render(self, returned: set[str], pad: str) -> list[str]:
        """The lines, mask lines nobody reads dropped and unread outputs written ``_``."""
        used, keep = set(returned), []
        for line in reversed(self.lines):
            if line.is_mask and not any(t in used for t in line.targets):
                continue
            keep.append(line)
            used |= line.uses
        out = []
        for line in reversed(keep):
            names = [t if t in used else "_" for t in line.targets]
            if all(n == "_" for n in names) and not line.is_mask:
                out.append(f"{pad}{line.expr}")
            elif line.unpack:
                out.append(f"{pad}{', '.join(names)}{',' if len(names) == 1 else ''} = {line.expr}")
            else:
                out.append(f"{pad}{names[0]} = {line.expr}")
        return out
