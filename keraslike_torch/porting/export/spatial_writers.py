"""Config writers of the spatial layers (poolings 2D/3D, global poolings 2D/3D, UpSampling,
ZeroPadding, Cropping), registered with :func:`.configs.writes` like the others: the keys and
defaults each Keras generation writes for them.

>>> from keraslike_torch.layers import ZeroPadding2D
>>> from keraslike_torch.porting.export.configs import layer_config
>>> layer_config(ZeroPadding2D(((1, 0), (2, 2)), name="pad"), 3)["config"]["padding"]
[[1, 0], [2, 2]]
"""

from __future__ import annotations

from typing import Any

from ...layers import (
    AveragePooling2D,
    AveragePooling3D,
    Cropping1D,
    Cropping2D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling2D,
    MaxPooling3D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from .configs import ExportError, layer_label, writes

__all__: list[str] = []


def _ints(v: Any) -> list[int]:
    return [int(v)] if isinstance(v, int) else [int(d) for d in v]


def _pairs(v: Any) -> list[Any]:
    """``(1, 2)`` -> ``[1, 2]``; ``((1, 2), (3, 4))`` -> ``[[1, 2], [3, 4]]`` (JSON's lists)."""
    return [_pairs(d) if isinstance(d, tuple) else int(d) for d in v]


@writes(MaxPooling2D, AveragePooling2D, MaxPooling3D, AveragePooling3D)
def _pooling(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return m.keras_class, {"pool_size": _ints(m.pool_size), "padding": m.padding,
                           "strides": _ints(m.strides), "data_format": m.data_format}


@writes(GlobalMaxPooling2D, GlobalAveragePooling2D, GlobalMaxPooling3D, GlobalAveragePooling3D)
def _global_pooling(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return m.keras_class, {"data_format": m.data_format, "keepdims": bool(m.keepdims)}


@writes(UpSampling1D)
def _up_sampling1d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "UpSampling1D", {"size": int(m.size)}


@writes(UpSampling2D)
def _up_sampling2d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "UpSampling2D", {"size": _ints(m.size), "data_format": m.data_format,
                            "interpolation": m.interpolation}


@writes(ZeroPadding1D)
def _zero_padding1d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    if gen < 3:
        if m.data_format != "channels_last":
            raise ExportError(
                f"{layer_label(m)}: data_format='channels_first' is Keras 3's (tf-keras's "
                "ZeroPadding1D pads axis 1 only): save it as .keras"
            )
        return "ZeroPadding1D", {"padding": _pairs(m.padding)}
    return "ZeroPadding1D", {"padding": _pairs(m.padding), "data_format": m.data_format}


@writes(ZeroPadding2D)
def _zero_padding2d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "ZeroPadding2D", {"padding": _pairs(m.padding), "data_format": m.data_format}


@writes(Cropping1D)
def _cropping1d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Cropping1D", {"cropping": _pairs(m.cropping)}


@writes(Cropping2D)
def _cropping2d(m: Any, gen: int) -> tuple[str, dict[str, Any]]:
    return "Cropping2D", {"cropping": _pairs(m.cropping), "data_format": m.data_format}
