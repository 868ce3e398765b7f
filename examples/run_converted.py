"""Run a model written by ``keraslike-torch convert`` on the bundled example inputs.

    keraslike-torch convert examples/models/first_equals_last.h5 out/example
    python examples/run_converted.py out/example

Plain PyTorch from here on: the converted module imports only torch, safetensors and
keraslike_torch (no TensorFlow, no Keras file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def main(out_dir: str) -> None:
    sys.path.insert(0, str(Path(out_dir).resolve()))
    from model import load  # the generated module

    model = load()
    ids = torch.from_numpy(np.load(HERE / "models" / "first_equals_last_inputs.npy")).long()
    with torch.no_grad():
        probs = model(ids)
    params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__} (Keras model {model.keras_name!r}) with {params:,} parameters")
    print("pre-padded token ids (0 = padding, masked)       first == last?  P(yes)")
    for row, p in zip(ids.tolist(), probs[:, 1].tolist()):
        real = [t for t in row if t]
        print(f"  {str(row):44s}  {str(real[0] == real[-1]):5s}           {p:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/example")
