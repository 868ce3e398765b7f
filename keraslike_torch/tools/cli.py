"""``keraslike-torch``: convert and inspect Keras files from the command line.

    keraslike-torch convert IN OUT_DIR [--architecture JSON] [--verify]
    keraslike-torch inspect IN [--architecture JSON]
    keraslike-torch export DIR OUT.keras|OUT.h5 [--source KERAS_FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..porting.builders import MODEL_CLASSES, model_from_json
from ..porting.formats import KerasFileError, open_keras_file
from ..porting.loading import load_model
from ..porting.registry import ConvertContext, UnsupportedLayerError, convert_layer
from ..porting.weights import load_weights
from .codegen import save_converted
from .summary import summary
from .verify import compare_with_keras, keras_reference

__all__ = ["main"]


def _load(path: str, architecture: str | None) -> Any:
    with open_keras_file(path) as kf:
        has_config = kf.config is not None and kf.kind != "json"
    if has_config:
        return load_model(path)
    if architecture is None:
        raise SystemExit(f"error: {path} holds weights only; give its architecture with --architecture ARCH.json")
    model = model_from_json(Path(architecture).read_text())
    load_weights(model, path)
    return model


class _Generated:
    """The generated module, run on the loaded model's example inputs (for compare_with_keras)."""

    def __init__(self, code: Path, model: Any) -> None:
        spec = importlib.util.spec_from_file_location(f"_keraslike_converted_{id(self)}", code)
        assert spec is not None and spec.loader is not None
        generated = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(generated)
        self.module = generated.load()
        self.example_inputs = model.example_inputs

    def eval(self) -> Any:
        return self.module.eval()

    def __call__(self, *inputs: Any) -> Any:
        return self.module(*inputs)


def _verify(path: str, code: Path, model: Any, architecture: str | None) -> int:
    # TensorFlow's oneDNN CPU kernels (on by default only with AVX-512) are the ones that run
    # channels_first pooling and dilated transposed convolutions on a CPU: the reference needs them.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    try:
        import tensorflow  # noqa: F401  (lazy: heavy, and optional)
    except Exception:
        print("verify: TensorFlow/Keras is not installed here; skipped (pip install 'keraslike-torch[keras]')")
        return 0
    arch = Path(architecture).read_text() if architecture else None
    reference = keras_reference(path, arch)
    worst = 0.0
    for name, diff in compare_with_keras(_Generated(code, model), reference):
        print(f"verify: {name}: max |keras - torch| = {diff:.3e}")
        worst = max(worst, diff)
    ok = worst <= 1e-4
    print("verify: OK" if ok else "verify: MISMATCH")
    return 0 if ok else 1


def _inspect(path: str, architecture: str | None) -> int:
    with open_keras_file(path) as kf:
        print(f"file: {path}")
        print(f"format: {kf.kind}; Keras version: {kf.keras_version or 'unknown'} (generation {kf.generation})"
              + (f"; backend: {kf.backend}" if kf.backend else ""))
        config = kf.config
        if config is None and architecture:
            config = json.loads(Path(architecture).read_text())
        layers = list(kf.weights.layer_names) if kf.weights is not None and hasattr(kf.weights, "layer_names") else []
        if config is None:
            print(f"weights only; layers with weights: {', '.join(layers) or '(none listed)'}")
            print("give --architecture ARCH.json to check conversion")
            return 0
        problems = []
        ctx = ConvertContext(keras_version=kf.generation)

        def walk(entries: Any) -> None:
            for e in entries:
                cls = e.get("class_name")
                cfg = e.get("config", {})
                if cls in ("InputLayer",):
                    continue
                if cls in MODEL_CLASSES:
                    inner = cfg if isinstance(cfg, list) else cfg.get("layers", [])
                    walk(inner)
                    continue
                module_path = str(e.get("module") or "")
                name = f"ops.{cls}" if module_path.startswith("keras.src.ops") else cls
                try:
                    convert_layer(name, cfg, ctx)
                except (UnsupportedLayerError, ValueError, TypeError, KeyError) as err:
                    problems.append((cfg.get("name", e.get("name", "?")), cls, str(err).split(";")[0]))

        top = config.get("config", [])
        walk(top if isinstance(top, list) else top.get("layers", []))
    if problems:
        print(f"cannot convert {len(problems)} layer(s):")
        for name, cls, why in problems:
            print(f"  - {name} ({cls}): {why}")
        return 1
    model = _load(path, architecture)
    shapes = [tuple(s.shape) for s in model.input_specs]
    summary(model, shapes if len(shapes) > 1 else shapes[0], print_fn=print)
    print("all layers convert")
    return 0


def _export(directory: str, output: str, source: str | None, architecture: str | None) -> int:
    """The graph comes from the Keras file the directory was converted from, the weights from
    the directory's model.safetensors (as trained in torch), under the names convert gave them."""
    import re

    from safetensors.torch import load_file

    from ..porting.export import save_keras
    from ..porting.formats import KerasFileError
    from .codegen import converted_state_dict

    folder = Path(directory)
    code = folder / "model.py"
    if not code.is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{directory} is not a directory written by convert (model.py + model.safetensors)")
    if source is None:
        found = re.search(r"^SOURCE = '([^'\\]*)'", code.read_text(encoding="ascii"), re.M)
        name = found.group(1) if found else ""
        candidates = [folder / name, folder.parent / name, Path(name)] if name else []
        source = next((str(c) for c in candidates if c.is_file()), None)
        if source is None:
            raise FileNotFoundError(
                f"cannot find the Keras file {name!r} that {code} was converted from; pass --source")
    model = _load(source, architecture)
    targets = converted_state_dict(model)
    trained = load_file(str(folder / "model.safetensors"))
    missing = sorted(set(targets) - set(trained))
    extra = sorted(set(trained) - set(targets))
    if missing or extra:
        raise KerasFileError(f"{folder / 'model.safetensors'} does not fit {source}: missing {missing[:5]}, "
                             f"unexpected {extra[:5]}")
    import torch

    with torch.no_grad():
        for key, tensor in targets.items():
            if trained[key].shape != tensor.shape:
                raise KerasFileError(f"{key}: shape {tuple(trained[key].shape)} in the directory, "
                                     f"{tuple(tensor.shape)} in {source}")
            tensor.copy_(trained[key])
    save_keras(model, output)
    print(f"wrote {output} ({'Keras 3' if output.lower().endswith('.keras') else 'tf-keras 2.x'} file)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keraslike-torch", description="Keras files -> PyTorch modules")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="write OUT_DIR/model.py (keraslike_torch layers) and model.safetensors")
    conv.add_argument("input")
    conv.add_argument("output", help="output directory")
    conv.add_argument("--architecture", help="architecture JSON for weights-only files")
    conv.add_argument("--verify", action="store_true",
                      help="run the written model.py and compare it with Keras on random inputs (needs TensorFlow)")
    insp = sub.add_parser("inspect", help="print the Keras-style summary and what cannot be converted")
    insp.add_argument("input")
    insp.add_argument("--architecture", help="architecture JSON for weights-only files")
    exp = sub.add_parser("export", help="write a directory written by convert (weights possibly trained in "
                                        "torch) back to a Keras file: OUT.keras (Keras 3) or OUT.h5 (tf-keras)")
    exp.add_argument("input", help="directory written by convert (model.py + model.safetensors)")
    exp.add_argument("output", help="OUT.keras or OUT.h5")
    exp.add_argument("--source", help="the Keras file it was converted from (default: the file model.py names, "
                                      "looked up beside DIR and in the current directory)")
    exp.add_argument("--architecture", help="architecture JSON, when the source file holds weights only")
    args = parser.parse_args(argv)
    try:
        if args.command == "inspect":
            return _inspect(args.input, args.architecture)
        if args.command == "export":
            return _export(args.input, args.output, args.source, args.architecture)
        model = _load(args.input, args.architecture)
        code, weights = save_converted(model, args.output, source=os.path.basename(os.path.normpath(args.input)))
        n = sum(p.numel() for p in model.parameters())
        print(f"wrote {code} and {weights} ({n:,} parameters)")
        print(f"use: import sys; sys.path.insert(0, {str(Path(args.output))!r}); from model import load; m = load()")
        if args.verify:
            return _verify(args.input, code, model, args.architecture)
        return 0
    except (KerasFileError, UnsupportedLayerError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
