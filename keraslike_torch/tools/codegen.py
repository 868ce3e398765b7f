"""Write a converted model out as an idiomatic PyTorch module plus safetensors weights.

The generated ``model.py`` holds one ``nn.Module`` class per Keras model (a nested model gets a
class of its own): ``__init__`` creates the keraslike_torch layers as attributes named after the
Keras layers, and ``forward`` takes the Keras inputs by name and runs the graph as straight-line
Python, one line per layer call, with masks and recurrent states passed explicitly.

The lines are written down while :class:`~keraslike_torch.model.KerasModel` semantics run once on
example inputs (the same steps as ``KerasModel.run_node``): which layer gets which mask, which
inputs are states, what each ``compute_mask`` call propagates. A mask that is ``None`` there is
``None`` for every input of those shapes (masks depend on the graph, not on the values), so the
generated code calls ``compute_mask`` only where a mask exists. A nested model called without
masks (and whose outputs carry none) is called as ``self.inner(x)``; otherwise its layers' calls
are written inline at the call site, with their masks.

Safety: text from the Keras file (layer, model and input names, config strings) enters the source
only as ``ascii()`` literals or as identifiers reduced to ``[0-9A-Za-z_]``; no docstring or
comment holds any of it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import layers as _layers
from .._version import __version__
from ..common.signature import identifier, unique_identifiers
from ..layers import KerasOp
from ..porting.graph import KerasModel, Ref, accepts_mask, call_args, clear_input_masks, flatten, map_refs
from ..recurrent import RNN
from .codewriter import RESERVED, Body, Code, literal, non_default, uses_of

__all__ = ["write_module", "save_converted", "converted_state_dict"]

_PUBLIC = {"LSTM", "GRU", "SimpleRNN", "Bidirectional"}
_VERSION = __version__ if re.fullmatch(r"[0-9A-Za-z.+-]+", __version__) else "?"


# ---- classes -----------------------------------------------------------------------------------


@dataclass
class _Class:
    model: KerasModel
    name: str
    attrs: dict[str, str]  # Keras layer name -> attribute
    ctors: dict[str, str]  # Keras layer name -> constructor code
    forward: list[str] | None = None
    args: list[str] = field(default_factory=list)  # forward's argument names


def _output_names(module: nn.Module, base: str, n: int) -> list[str]:
    if n == 1:
        return [base]
    if isinstance(module, RNN) and getattr(module, "return_state", False) and n == 1 + module.cell.state_count:
        return [base] + [f"{base}_{s}" for s in ("h", "c")[: module.cell.state_count]]
    return [base] + [f"{base}_{i}" for i in range(1, n)]


def _format_outputs(refs: Any, get: Any) -> Any:
    """KerasModel.call_with_masks's output structure: one output bare, several as a tuple."""
    outs = map_refs(refs, get)
    if isinstance(outs, list):
        return tuple(outs) if len(outs) != 1 else outs[0]
    if isinstance(outs, dict):
        return tuple(outs.values())
    return outs


class _Writer:
    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.globals: set[str] = set(RESERVED)
        self.classes: dict[int, _Class] = {}
        self.order: list[_Class] = []
        self.alive: list[Any] = []  # keeps traced tensors alive: their ids name them
        self.aliases: dict[str, str] = {}  # imported module alias -> module
        self.globals.add("layers")  # the alias of keraslike_torch.layers

    # -- constructors

    def ctor(self, m: nn.Module, indent: int) -> str:
        if isinstance(m, KerasModel):
            return f"{self.plan(m).name}()"
        if isinstance(m, KerasOp):
            self.imports.add("from keraslike_torch.converters import convert_layer")
            return f"convert_layer({literal('ops.' + m.op_name)}, {self.value(m.op_config, indent)})"
        cls = type(m)
        get_config = getattr(m, "get_config", None)
        if not callable(get_config):
            raise TypeError(f"layer {getattr(m, 'name', '?')!r} ({cls.__name__}) has no get_config(): generated "
                            "code cannot construct it; use the loaded KerasModel instead")
        config = dict(get_config())
        if isinstance(m, RNN):
            config["input_size"] = m.cell.input_size
            config["dtype"] = m.cell.weight_hh.dtype
        else:
            extra = getattr(m, "built_config", None)
            if callable(extra):
                config.update(extra())
        config.pop("device", None)
        config = non_default(cls, config)
        mod = cls.__module__
        if (cls.__qualname__ != cls.__name__ or not cls.__name__.isidentifier() or mod == "__main__"
                or not all(p.isidentifier() for p in mod.split("."))):
            raise TypeError(f"layer class {cls.__qualname__!r} of module {mod!r} cannot be imported by generated "
                            "code: define it at the top level of an importable module")
        if cls.__name__ in _PUBLIC and mod.startswith("keraslike_torch"):
            ctor = f"kt.{cls.__name__}"
        elif mod.startswith("keraslike_torch.layers") and getattr(_layers, cls.__name__, None) is cls:
            # our layers by their package, stable whichever file a class lives in
            self.imports.add("from keraslike_torch import layers")
            ctor = f"layers.{cls.__name__}"
        else:
            alias = mod.rsplit(".", 1)[-1]
            fresh = alias not in self.aliases
            if self.aliases.get(alias, mod) != mod or (fresh and alias in self.globals - {"core", "conv"}):
                raise TypeError(f"module {mod!r} of layer class {cls.__name__} clashes with another name "
                                "in the generated code")
            self.aliases[alias] = mod
            self.globals.add(alias)
            self.imports.add(f"from {mod.rsplit('.', 1)[0]} import {alias}" if "." in mod else f"import {mod}")
            ctor = f"{alias}.{cls.__name__}"
        pad = " " * (indent + 4)
        args = [f"{k}={self.value(v, indent + 4)}" for k, v in config.items() if str(k).isidentifier()]
        if len(args) != len(config):
            raise TypeError(f"{cls.__name__}.get_config() has keys that are not identifiers")
        one_line = f"{ctor}({', '.join(args)})"
        if len(one_line) + indent <= 96:
            return one_line
        return f"{ctor}(\n" + "".join(f"{pad}{a},\n" for a in args) + " " * indent + ")"

    def value(self, v: Any, indent: int) -> str:
        if isinstance(v, nn.Module):
            return self.ctor(v, indent)
        if isinstance(v, (list, tuple)) and any(isinstance(x, nn.Module) for x in v):
            body = ", ".join(self.value(x, indent) for x in v)
            return f"[{body}]" if isinstance(v, list) else f"({body}{',' if len(v) == 1 else ''})"
        return literal(v)

    def plan(self, model: KerasModel) -> _Class:
        if id(model) in self.classes:
            return self.classes[id(model)]
        parts = identifier(model.name, "Model").split("_")
        base = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
        name = unique_identifiers([base], self.globals, "Model")[0]
        probe = nn.Module()
        taken: set[str] = set()
        attrs = dict(zip([k for k, _ in model.keras_layers()], unique_identifiers(
            [k for k, _ in model.keras_layers()], taken, "layer",
            avoid=lambda n: hasattr(probe, n) or n in ("keras_name", "keras_class", "keras_inputs"))))
        cls = _Class(model, name, attrs, {})
        self.classes[id(model)] = cls
        for keras_name, module in model.keras_layers():
            cls.ctors[keras_name] = self.ctor(module, 8)
        self.order.append(cls)  # after the classes of its nested models
        return cls

    # -- tracing

    def forward_of(self, cls: _Class, inputs: list[Tensor]) -> tuple[Any, Any]:
        """Write ``cls.forward`` (if not yet written) by running its model on ``inputs`` with no
        input masks; returns (outputs, output masks) as ``call_with_masks`` would."""
        model = cls.model
        args = unique_identifiers([s.name for s in model.input_specs], set(), "input",
                                  avoid=(RESERVED | {"mask"}).__contains__)
        body = Body(set(args) | RESERVED)
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        codes = []
        for x, spec, arg in zip(inputs, model.input_specs, args):
            if dtype is not None and spec.vocabulary is None:  # Keras casts float inputs to the layers' dtype
                if not body.lines:
                    body.emit(["dtype"], "next(p.dtype for p in self.parameters() if p.is_floating_point())", set())
                body.emit([arg], f"{arg}.to(dtype) if {arg}.is_floating_point() else {arg}", {arg, "dtype"})
                x = x.to(dtype) if x.is_floating_point() else x
            codes.append((x, Code(arg)))
        outs, out_codes, masks, _ = self.run_graph(body, model, "self", codes, [(None, None)] * len(codes))
        if cls.forward is None:
            result = _format_outputs(model.output_refs, lambda r: out_codes[r])
            ret = ", ".join(str(c) for c in result) if isinstance(result, tuple) else str(result)
            annotation = "tuple[torch.Tensor, ...]" if isinstance(result, tuple) else "torch.Tensor"
            params = "".join(f", {a}: torch.Tensor" for a in args)
            lines = [f"    def forward(self{params}) -> {annotation}:"]
            lines += body.render(uses_of(result), " " * 8)
            lines.append(f"        return {ret}")
            cls.forward, cls.args = lines, args
        return outs, masks

    def run_graph(self, body: Body, model: KerasModel, owner: str, inputs: list[tuple[Any, Code]],
                  masks: list[tuple[Any, Any]]) -> tuple[Any, dict, Any, dict]:
        """Run ``model``'s nodes as ``KerasModel.call_with_masks`` does, writing each call into
        ``body``; returns (outputs, codes by Ref, output masks, mask codes by Ref)."""
        cls = self.plan(model)
        values: dict[Ref, Any] = {}
        codes: dict[Ref, Any] = {}
        vmasks: dict[Ref, Any] = {}
        mcodes: dict[Ref, Any] = {}
        known: dict[int, Code] = {}  # id(tensor) -> the code that holds it
        for ref, (x, c), (m, mc) in zip(model.input_refs, inputs, masks):
            values[ref], codes[ref], vmasks[ref], mcodes[ref] = x, c, m, mc
            self.remember(known, x, c)
            self.remember(known, m, mc)
        for node in model.nodes:
            self.run_node(body, cls, owner, node, values, codes, vmasks, mcodes, known)
        outputs = _format_outputs(model.output_refs, lambda r: values[r])
        out_masks = _format_outputs(model.output_refs, lambda r: vmasks.get(r))
        return outputs, codes, out_masks, mcodes

    def remember(self, known: dict[int, Code], x: Any, code: Any) -> None:
        if isinstance(x, Tensor) and isinstance(code, Code) and id(x) not in known:
            known[id(x)] = code
            self.alive.append(x)

    def run_node(self, body: Body, cls: _Class, owner: str, node: Any, values: dict, codes: dict,
                 vmasks: dict, mcodes: dict, known: dict) -> None:
        model = cls.model
        module = model.layer(node.layer)
        call = f"{owner}.{cls.attrs[node.layer]}"
        args, kwargs, in_mask = call_args(node, module, values.__getitem__, vmasks.get)
        args_c, kwargs_c, in_mask_c = call_args(node, module, codes.__getitem__, mcodes.get)
        if isinstance(module, KerasOp):
            out = module(*args)
            expr = f"{call}({', '.join(literal(a) for a in args_c)})"
            self.emit_outputs(body, module, cls.attrs[node.layer], node, out, expr, uses_of(args_c), values, codes,
                              known)
            return
        if kwargs.get("mask") is None:
            kwargs.pop("mask", None)
            kwargs_c.pop("mask", None)
            if accepts_mask(module, in_mask):
                kwargs["mask"], kwargs_c["mask"] = in_mask, in_mask_c
        inputs, inputs_c = (args[0], args_c[0]) if args else (None, None)
        if isinstance(module, KerasModel):
            x = args if len(args) != 1 or not isinstance(args[0], (list, tuple)) else list(args[0])
            x_c = args_c if len(args_c) != 1 or not isinstance(args_c[0], (list, tuple)) else list(args_c[0])
            self.nested_call(body, module, call, cls.attrs[node.layer], node, x, x_c, kwargs.get("mask"),
                             kwargs_c.get("mask"), values, codes, vmasks, mcodes, known)
            return
        out = module(*args, **kwargs)
        arg_code = [literal(a) for a in args_c] + [f"{k}={literal(v)}" for k, v in kwargs_c.items()]
        uses = uses_of([args_c, list(kwargs_c.values())])
        outs = self.emit_outputs(body, module, cls.attrs[node.layer], node, out, f"{call}({', '.join(arg_code)})",
                                 uses, values, codes, known)
        fn = getattr(module, "compute_mask", None)
        out_masks = fn(inputs, kwargs.get("mask")) if fn is not None else None
        clear_input_masks(node, module, vmasks, mcodes)
        mlist = list(out_masks) if isinstance(out_masks, (tuple, list)) else [out_masks] + [None] * (len(outs) - 1)
        fresh: list[str | None] = []
        for i, m in enumerate(mlist):
            ref = Ref(node.layer, node.index, i)
            if i < len(outs):
                vmasks[ref] = m
            if m is None:
                fresh.append(None)
                if i < len(outs):
                    mcodes[ref] = None
            elif id(m) in known:  # the mask of an input, passed on unchanged
                fresh.append(None)
                if i < len(outs):
                    mcodes[ref] = known[id(m)]
            else:
                name = body.new(f"{codes[ref] if i < len(outs) else 'mask'}_mask")
                fresh.append(name)
                if i < len(outs):
                    mcodes[ref] = Code(name)
                self.remember(known, m, Code(name))
        for i in range(len(mlist), len(outs)):
            vmasks[Ref(node.layer, node.index, i)] = None
            mcodes[Ref(node.layer, node.index, i)] = None
        if any(f is not None for f in fresh):
            mask_arg = kwargs_c.get("mask")
            expr = f"{call}.compute_mask({literal(inputs_c)}, {literal(mask_arg)})"
            targets = fresh if isinstance(out_masks, (tuple, list)) else fresh[:1]
            body.emit(targets, expr, uses_of([inputs_c, mask_arg]), is_mask=True)

    def emit_outputs(self, body: Body, module: nn.Module, base: str, node: Any, out: Any, expr: str,
                     uses: set[str], values: dict, codes: dict, known: dict) -> list[Any]:
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        names = [body.new(n) for n in _output_names(module, base, len(outs))]
        body.emit(list(names), expr, uses, unpack=isinstance(out, (tuple, list)))
        for i, (o, n) in enumerate(zip(outs, names)):
            ref = Ref(node.layer, node.index, i)
            values[ref], codes[ref] = o, Code(n)
            self.remember(known, o, Code(n))
        return outs

    def nested_call(self, body: Body, model: KerasModel, call: str, base: str, node: Any, x: list, x_c: list,
                    mask: Any, mask_c: Any, values: dict, codes: dict, vmasks: dict, mcodes: dict,
                    known: dict) -> None:
        n = len(model.input_refs)
        if mask is None or isinstance(mask, Tensor):
            masks = [(mask, mask_c)] + [(None, None)] * (n - 1)
        else:
            masks = list(zip(mask, mask_c if isinstance(mask_c, (list, tuple)) else [mask_c] * len(mask)))
        if len(x) != n:
            raise ValueError(f"model {model.name!r} takes {n} inputs, got {len(x)}")
        cls = self.plan(model)
        plain_outs, plain_masks = self.forward_of(cls, list(x))
        no_masks = all(m is None for m, _ in masks) and all(m is None for m in flatten(plain_masks))
        if no_masks:
            expr = f"{call}({', '.join(literal(c) for c in x_c)})"
            self.emit_outputs(body, model, base, node, plain_outs, expr, uses_of(x_c), values, codes, known)
            outs = list(plain_outs) if isinstance(plain_outs, tuple) else [plain_outs]
            for i in range(len(outs)):
                vmasks[Ref(node.layer, node.index, i)] = None
                mcodes[Ref(node.layer, node.index, i)] = None
            return
        # inline: the nested model's layer calls at this call site, with the masks
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        inputs = []
        for xi, ci, spec in zip(x, x_c, model.input_specs):
            if (dtype is not None and spec.vocabulary is None and isinstance(xi, Tensor)
                    and xi.is_floating_point() and xi.dtype != dtype):
                raise ValueError(f"nested model {model.name!r} runs in {dtype} inside a {xi.dtype} model: "
                                 "convert it with one dtype (model.to(dtype)) first")
            inputs.append((xi, ci))
        outs, ocodes, out_masks, omcodes = self.run_graph(body, model, call, inputs, masks)
        out_list = list(outs) if isinstance(outs, tuple) else [outs]
        code_list = _format_outputs(model.output_refs, lambda r: ocodes[r])
        code_list = list(code_list) if isinstance(code_list, tuple) else [code_list]
        mcode_list = _format_outputs(model.output_refs, lambda r: omcodes.get(r))
        mcode_list = list(mcode_list) if isinstance(mcode_list, tuple) else [mcode_list]
        mask_list = list(out_masks) if isinstance(out_masks, tuple) else [out_masks]
        for i, (o, c) in enumerate(zip(out_list, code_list)):
            ref = Ref(node.layer, node.index, i)
            values[ref], codes[ref] = o, c
            vmasks[ref] = mask_list[i] if i < len(mask_list) else None
            mcodes[ref] = mcode_list[i] if i < len(mcode_list) else None

    # -- output

    def class_source(self, cls: _Class) -> str:
        model = cls.model
        inputs = tuple(str(s.name) for s in model.input_specs)
        lines = [
            f"class {cls.name}(nn.Module):",
            f'    """A Keras {identifier(model.keras_class, "Model")} model as torch layers (its Keras name: '
            '``keras_name``)."""',
            "",
            f"    keras_name = {literal(str(model.name))}",
            f"    keras_class = {literal(str(model.keras_class))}",
            f"    keras_inputs = {literal(inputs)}",
            "",
            "    def __init__(self) -> None:",
            "        super().__init__()",
        ]
        for keras_name, attr in cls.attrs.items():
            lines.append(f"        self.{attr} = {cls.ctors[keras_name]}")
        lines.append("")
        if cls.forward is None:
            raise RuntimeError(f"model {model.name!r} is never called")
        lines += cls.forward
        return "\n".join(lines) + "\n"


# ---- the module ----------------------------------------------------------------------------------


def _trace(model: KerasModel) -> _Writer:
    """Plan every class and write every forward by one run on example inputs (eval mode, no
    gradients, stateful layers' states restored afterwards)."""
    w = _Writer()
    top = w.plan(model)
    was = model.training
    saved = [(m, m._states) for m in model.modules() if getattr(m, "stateful", False)]
    model.eval()
    try:
        with torch.no_grad():
            w.forward_of(top, model.example_inputs(batch_size=2, time_steps=3))
    finally:
        model.train(was)
        for m, states in saved:
            m._states = states
    return w


def write_module(model: KerasModel, source: str = "", weights_file: str = "model.safetensors") -> str:
    """The Python source of a module that rebuilds ``model`` as plain ``nn.Module`` classes of
    keraslike_torch layers; ``load()`` in it returns the model with the weights of ``weights_file``
    (as :func:`save_converted` writes them)."""
    return _source(_trace(model), model, source, weights_file)


def _source(w: _Writer, model: KerasModel, source: str, weights_file: str) -> str:
    top = w.classes[id(model)]
    arg_names = ", ".join(top.args)
    header = (
        f'"""A Keras model converted to PyTorch by keraslike-torch {_VERSION}.\n'
        "\n"
        "Usage:\n"
        "    from model import load\n"
        f"    model = load()   # {top.name} with the weights in the safetensors file beside this one\n"
        f"    outputs = model({arg_names})\n"
        "\n"
        "Edit freely: the classes below are ordinary torch modules of keraslike_torch layers.\n"
        '"""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
        "from pathlib import Path\n"
        "\n"
        "import torch\n"
        "from safetensors.torch import load_file\n"
        "from torch import nn\n"
        "\n"
        "import keraslike_torch as kt\n"
    )
    imports = "".join(sorted(i + "\n" for i in w.imports))
    constants = (f"\nSOURCE = {literal(str(source))}  # the Keras file this was converted from\n"
                 f"CONVERTER = {literal('keraslike-torch ' + __version__)}\n")
    classes = "\n\n".join(w.class_source(c) for c in w.order)
    footer = (
        "\n\n"
        f"def load(weights: str | Path = Path(__file__).with_name({literal(str(weights_file))})) -> {top.name}:\n"
        '    """Build the model, load its converted weights and return it in eval mode."""\n'
        f"    model = {top.name}()\n"
        "    model.load_state_dict(load_file(str(weights)))\n"
        "    return model.eval()\n"
    )
    return header + imports + constants + "\n\n" + classes + footer


def converted_state_dict(model: KerasModel) -> dict[str, Tensor]:
    """``model``'s tensors under the names the generated module's ``state_dict`` uses."""
    return _renamed(model, _trace(model))


def _renamed(model: KerasModel, w: _Writer) -> dict[str, Tensor]:
    cls = w.classes[id(model)]
    out: dict[str, Tensor] = {}
    for keras_name, module in model.keras_layers():
        attr = cls.attrs[keras_name]
        sub = _renamed(module, w) if isinstance(module, KerasModel) else module.state_dict()
        out.update({f"{attr}.{k}": v for k, v in sub.items()})
    return out


def save_converted(model: KerasModel, out_dir: str | os.PathLike, source: str = "") -> tuple[Path, Path]:
    """Write ``model.py`` and ``model.safetensors`` into ``out_dir``; returns their paths."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    code_path, weights_path = out / "model.py", out / "model.safetensors"
    w = _trace(model)
    code = _source(w, model, source, weights_path.name)
    state = {k: v.detach().contiguous().cpu() for k, v in _renamed(model, w).items()}
    if len(state) != len(model.state_dict()):
        raise RuntimeError(f"converted {len(state)} of the {len(model.state_dict())} tensors of {model.name!r}")
    metadata = {"format": "pt", "converter": f"keraslike-torch {__version__}"}
    save_file(state, str(weights_path), metadata=metadata)
    code_path.write_text(code, encoding="ascii")
    return code_path, weights_path


