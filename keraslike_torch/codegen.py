"""Write a converted model out as a readable Python module plus safetensors weights."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .activations import Activation
from .keras_ops import KerasOp
from .model import KerasModel, Ref
from .recurrent import RNN

__all__ = ["write_module", "save_converted"]

_PUBLIC = {"LSTM", "GRU", "SimpleRNN", "Bidirectional"}


def _clean(v: Any) -> Any:
    """Keras serialization noise out of initializer configs: {"class_name", "config"} only."""
    if isinstance(v, dict) and "class_name" in v:
        cfg = {k: x for k, x in (v.get("config") or {}).items() if x is not None}
        return {"class_name": v["class_name"], "config": cfg} if cfg else v["class_name"]
    return v


def _non_default(cls: type, config: dict) -> dict:
    """Only the keywords that differ from the constructor's defaults, in signature order."""
    import inspect

    params = inspect.signature(cls).parameters
    out = {}
    for k, v in config.items():
        v = _clean(v)
        p = params.get(k)
        if p is not None and p.default is not inspect.Parameter.empty:
            try:
                if v == p.default or (isinstance(v, str) and _clean(p.default) == v):
                    continue
            except Exception:
                pass
        out[k] = v
    return out


class _Writer:
    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.functions: list[str] = []
        self.used_names: set[str] = set()

    def value(self, v: Any, indent: int) -> str:
        if isinstance(v, nn.Module):
            return self.module(v, indent)
        if isinstance(v, torch.dtype):
            return f"torch.{str(v).split('.')[-1]}"
        if isinstance(v, torch.device):
            return repr(str(v)) if v.type != "cpu" else "None"
        if isinstance(v, Activation):
            return repr(v.name)
        if isinstance(v, Ref):
            return f"Ref({v.layer!r}, {v.node}, {v.tensor})"
        if isinstance(v, (list, tuple)):
            items = [self.value(x, indent) for x in v]
            body = ", ".join(items)
            if isinstance(v, tuple):
                return f"({body},)" if len(items) == 1 else f"({body})"
            return f"[{body}]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k!r}: {self.value(x, indent)}" for k, x in v.items()) + "}"
        if v is None or isinstance(v, (bool, int, float, str)):
            return repr(v)
        raise TypeError(f"cannot write {type(v).__name__} values into generated code: {v!r}")

    def module(self, m: nn.Module, indent: int) -> str:
        if isinstance(m, KerasModel):
            return f"{self.model_function(m)}()"
        if isinstance(m, KerasOp):
            self.imports.add("from keraslike_torch.converters import convert_layer")
            return f"convert_layer({'ops.' + m.op_name!r}, {self.value(m.op_config, indent)})"
        config = dict(m.get_config())  # type: ignore[operator]
        if isinstance(m, RNN):
            config["input_size"] = m.cell.input_size
            config["dtype"] = m.cell.weight_hh.dtype
        else:
            extra = getattr(m, "built_config", None)
            if callable(extra):
                config.update(extra())
        config.pop("device", None)
        cls = type(m)
        config = _non_default(cls, config)
        if cls.__name__ in _PUBLIC and cls.__module__.startswith("keraslike_torch"):
            ctor = f"kt.{cls.__name__}"
        else:
            mod = cls.__module__
            alias = mod.rsplit(".", 1)[-1]
            self.imports.add(f"from {mod.rsplit('.', 1)[0]} import {alias}")
            ctor = f"{alias}.{cls.__name__}"
        pad = " " * (indent + 4)
        args = [f"{k}={self.value(v, indent + 4)}" for k, v in config.items()]
        one_line = f"{ctor}({', '.join(args)})"
        if len(one_line) + indent <= 96:
            return one_line
        return f"{ctor}(\n" + "".join(f"{pad}{a},\n" for a in args) + " " * indent + ")"

    def model_function(self, model: KerasModel) -> str:
        base = "build_" + "".join(ch if ch.isalnum() else "_" for ch in model.name).strip("_")
        name, i = base, 1
        while name in self.used_names:
            name, i = f"{base}_{i}", i + 1
        self.used_names.add(name)
        layers = "".join(
            f"        {k!r}: {self.module(m, 8)},\n" for k, m in model.keras_layers()
        )
        nodes = "".join(
            f"        GraphNode({n.layer!r}, {n.index}, {self.value(n.args, 8)}, "
            f"{self.value(n.kwargs, 8)}, {n.explicit}),\n"
            for n in model.nodes
        )
        specs = "".join(
            f"        InputSpec({s.name!r}, {tuple(s.shape)!r}, {s.dtype!r}, {s.vocabulary!r}),\n"
            for s in model.input_specs
        )
        self.functions.append(
            f"def {name}() -> KerasModel:\n"
            f'    """{model.keras_class} model {model.name!r} with fresh weights."""\n'
            f"    layers = {{\n{layers}    }}\n"
            f"    nodes = [\n{nodes}    ]\n"
            f"    input_specs = [\n{specs}    ]\n"
            f"    return KerasModel({model.name!r}, {model.keras_class!r}, layers, nodes,\n"
            f"                      {self.value(model.input_refs, 22)},\n"
            f"                      {self.value(model.output_refs, 22)}, input_specs)\n"
        )
        return name


def write_module(model: KerasModel, source: str = "", weights_file: str = "model.safetensors") -> str:
    """The Python source of a module that rebuilds ``model`` with keraslike_torch layers."""
    w = _Writer()
    top = w.model_function(model)
    specs = ", ".join(f"{s.name} {tuple(s.shape)} {'ids' if s.vocabulary else s.dtype}" for s in model.input_specs)
    origin = f" from {source}" if source else ""
    header = textwrap.dedent(f'''\
        """{model.keras_class} model {model.name!r} converted by keraslike-torch {__version__}{origin}.

        Usage:
            from model import load
            model = load()   # keraslike_torch layers + the weights in {weights_file}
            outputs = model(*inputs)   # inputs in Keras order: {specs}
        """

        from __future__ import annotations

        from pathlib import Path

        import torch
        from safetensors.torch import load_file

        import keraslike_torch as kt
        from keraslike_torch.model import GraphNode, InputSpec, KerasModel, Ref
        ''')
    imports = "".join(sorted(i + "\n" for i in w.imports))
    body = "\n\n".join(w.functions)
    footer = textwrap.dedent(f'''\


        def load(weights: str | Path = Path(__file__).with_name({weights_file!r})) -> KerasModel:
            """Build the model and load its converted weights (eval mode)."""
            model = {top}()
            model.load_state_dict(load_file(str(weights)))
            return model.eval()
        ''')
    return header + imports + "\n\n" + body + footer


def save_converted(model: KerasModel, out_dir: str | os.PathLike, source: str = "") -> tuple[Path, Path]:
    """Write ``model.py`` and ``model.safetensors`` into ``out_dir``; returns their paths."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    code_path, weights_path = out / "model.py", out / "model.safetensors"
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "source": source, "converter": f"keraslike-torch {__version__}"}
    save_file(state, str(weights_path), metadata=metadata)
    code_path.write_text(write_module(model, source, weights_path.name))
    return code_path, weights_path
