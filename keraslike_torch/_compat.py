"""The 0.1 module paths, kept importable: code written by 0.1's ``convert`` imports
``keraslike_torch.model`` (0.1.0) or ``keraslike_torch.keras_layers`` (0.1.x), and modules saved
whole with ``torch.save`` by 0.1 name their classes by 0.1 paths (``keraslike_torch.bidirectional
.Bidirectional``). Each old path is the new module itself, imported on first use, so classes are
identical and unpickling finds them.

>>> import keraslike_torch as kt
>>> import keraslike_torch.bidirectional as old
>>> old.Bidirectional is kt.Bidirectional
True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

# 0.1 module (under keraslike_torch) -> its home now. keraslike_torch.keras_layers.{core,conv} are
# real modules (each re-exports what 0.1 held in one file), and cells, converters, testing,
# activations, initializers and recurrent kept their names. (keraslike_torch.summary is not
# aliased: importing it would replace the function kt.summary; it held no class to unpickle.)
OLD_PATHS = {
    "_config": "common.config", "tracing": "common.tracing", "precision": "common.precision",
    "signature": "common.signature",
    "bidirectional": "recurrent.bidirectional", "fused": "recurrent.fused", "runner": "recurrent.runner",
    "packed": "recurrent.packed",
    "keras_ops": "layers.ops",
    "files": "porting.formats", "guards": "porting.guards", "config_checks": "porting.config_checks",
    "layouts": "porting.layouts", "model": "porting.graph",
    "verify": "tools.verify", "cli": "tools.cli", "codegen": "tools.codegen",
    "_codewriter": "tools.codewriter",
}
_PREFIX = __package__ + "."


class _OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an import of a 0.1 path with the module that now holds its code."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(_PREFIX) and fullname[len(_PREFIX):] in OLD_PATHS:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(_PREFIX + OLD_PATHS[spec.name[len(_PREFIX):]])

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when it was first imported under its own name."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (done by ``import keraslike_torch``)."""
    if not any(isinstance(f, _OldPathFinder) for f in sys.meta_path):
        sys.meta_path.append(_OldPathFinder())
