"""Config writers of the activation layers (Softmax, ReLU, LeakyReLU, PReLU, ELU) and Dot, with
the keys each generation writes (tf-keras names LeakyReLU's slope ``alpha``). The attention
layers have no writers: saving them raises an ExportError naming the layer.

>>> from keraslike_torch.layers import LeakyReLU
>>> layer_config(LeakyReLU(0.1, name="l"), 2)["config"]["alpha"]
0.1
"""

from __future__ import annotations

from typing import Any

from ...layers import ELU, Dot, LeakyReLU, PReLU, ReLU, Softmax
from .configs import ExportError, initializer_config, layer_config, layer_label, writes

__all__ = ["layer_config"]


@writes(Softmax)
def _softmax(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    if m.robust_masking and gen >= 3:
        raise ExportError(f"{layer_label(m)}: robust_masking=True does not exist in Keras 3; save to .h5")
    axis = list(m.axis) if isinstance(m.axis, tuple) else m.axis
    return "Softmax", ({"axis": axis, "robust_masking": True} if m.robust_masking else {"axis": axis})


@writes(ReLU)
def _relu(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "ReLU", {"max_value": m.max_value, "negative_slope": m.negative_slope, "threshold": m.threshold}


@writes(LeakyReLU)
def _leaky_relu(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "LeakyReLU", {"negative_slope" if gen >= 3 else "alpha": m.negative_slope}


@writes(PReLU)
def _prelu(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    init = initializer_config(m.get_config().get("alpha_initializer", "zeros"), "Zeros", gen)
    axes = list(m.shared_axes) if m.shared_axes is not None else None
    return "PReLU", {"alpha_initializer": init, "alpha_regularizer": None, "alpha_constraint": None,
                     "shared_axes": axes}


@writes(ELU)
def _elu(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "ELU", {"alpha": m.alpha}


@writes(Dot)
def _dot(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Dot", {"axes": list(m.axes) if isinstance(m.axes, tuple) else m.axes, "normalize": m.normalize}
