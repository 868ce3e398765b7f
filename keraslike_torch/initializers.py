"""Keras weight initializers, applied to tensors in Keras's own shapes.

Keras kernels are ``(in, out)``; fans are computed the Keras way (``fan_in = shape[0]`` for 2-D,
receptive field included for higher ranks), so ``he_uniform`` here draws from Keras's range. The
layers initialize a Keras-shaped tensor and convert it with the same function that
:meth:`set_keras_weights` uses, so there is one layout conversion.

>>> import torch, keraslike_torch as kt
>>> w = torch.empty(3, 8)
>>> _ = kt.initializers.get("glorot_uniform")(w)
>>> bool(w.abs().max() <= (6 / (3 + 8)) ** 0.5)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["get", "Initializer", "InitializerLike", "KerasInitializer", "variance_scaling"]

Initializer = Callable[[Tensor], Tensor]
InitializerLike = str | dict | Initializer | None


class KerasInitializer:
    """A Keras initializer: ``init(t)`` fills ``t`` in place and returns it. It pickles (and
    deep-copies) by its factory name and keywords, so modules holding one pickle.

    >>> import pickle
    >>> init = get({"class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 1.0}})
    >>> pickle.loads(pickle.dumps(init))
    KerasInitializer('random_uniform', minval=-1.0, maxval=1.0)
    """

    __slots__ = ("name", "config", "_fn")

    def __init__(self, name: str, fn: Initializer, **config: Any) -> None:
        self.name = name
        self.config = config
        self._fn = fn

    def __call__(self, t: Tensor) -> Tensor:
        return self._fn(t)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _from_factory, (self.name, dict(self.config))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.config.items())
        return f"KerasInitializer({self.name!r}{args})"


def _from_factory(name: str, config: dict[str, Any]) -> Initializer:
    return _FACTORIES[name](**config)


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"
) -> KerasInitializer:
    """Keras ``VarianceScaling``: the family behind glorot_*, he_* and lecun_*."""
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"VarianceScaling mode must be fan_in, fan_out or fan_avg; got {mode!r}")
    distribution = {"normal": "truncated_normal"}.get(distribution, distribution)
    if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
        raise ValueError(f"Unsupported VarianceScaling distribution {distribution!r}")

    def init(t: Tensor) -> Tensor:
        fan_in, fan_out = _fans(tuple(t.shape))
        denom = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        s = scale / max(1.0, denom)
        with torch.no_grad():
            if distribution == "truncated_normal":
                std = math.sqrt(s) / 0.87962566103423978
                return torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)
            if distribution == "untruncated_normal":
                return t.normal_(0.0, math.sqrt(s))
            limit = math.sqrt(3.0 * s)
            return t.uniform_(-limit, limit)

    return KerasInitializer("variance_scaling", init, scale=scale, mode=mode, distribution=distribution)


def _orthogonal(gain: float = 1.0) -> Initializer:
    def init(t: Tensor) -> Tensor:
        # Same construction as Keras's OrthogonalInitializer (QR of a normal matrix, sign fix).
        with torch.no_grad():
            flat = t.view(-1, t.shape[-1]) if t.dim() > 2 else t
            return torch.nn.init.orthogonal_(flat, gain=gain).view_as(t)

    return KerasInitializer("orthogonal", init, gain=gain)


def _identity(gain: float = 1.0) -> Initializer:
    def init(t: Tensor) -> Tensor:
        if t.dim() != 2:
            raise ValueError("The identity initializer needs a 2-D weight")
        with torch.no_grad():
            return t.copy_(gain * torch.eye(*t.shape, dtype=t.dtype, device=t.device))

    return KerasInitializer("identity", init, gain=gain)


def _constant(value: float = 0.0) -> Initializer:
    def init(t: Tensor) -> Tensor:
        with torch.no_grad():
            return t.fill_(value)

    return KerasInitializer("constant", init, value=value)


def _random_uniform(minval: float = -0.05, maxval: float = 0.05) -> Initializer:
    def init(t: Tensor) -> Tensor:
        with torch.no_grad():
            return t.uniform_(minval, maxval)

    return KerasInitializer("random_uniform", init, minval=minval, maxval=maxval)


def _random_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    def init(t: Tensor) -> Tensor:
        with torch.no_grad():
            return t.normal_(mean, stddev)

    return KerasInitializer("random_normal", init, mean=mean, stddev=stddev)


def _truncated_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    def init(t: Tensor) -> Tensor:
        return torch.nn.init.trunc_normal_(t, mean, stddev, mean - 2 * stddev, mean + 2 * stddev)

    return KerasInitializer("truncated_normal", init, mean=mean, stddev=stddev)


_FACTORIES: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: _constant(0.0),
    "ones": lambda: _constant(1.0),
    "constant": _constant,
    "random_uniform": _random_uniform,
    "random_normal": _random_normal,
    "truncated_normal": _truncated_normal,
    "glorot_uniform": lambda: variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": lambda: variance_scaling(1.0, "fan_avg", "truncated_normal"),
    "he_uniform": lambda: variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": lambda: variance_scaling(2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": lambda: variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": lambda: variance_scaling(1.0, "fan_in", "truncated_normal"),
    "orthogonal": _orthogonal,
    "identity": _identity,
    "variance_scaling": variance_scaling,
}
_ALIASES = {
    "Zeros": "zeros", "zero": "zeros", "Ones": "ones", "one": "ones", "Constant": "constant",
    "RandomUniform": "random_uniform", "uniform": "random_uniform",
    "RandomNormal": "random_normal", "normal": "random_normal",
    "TruncatedNormal": "truncated_normal", "GlorotUniform": "glorot_uniform",
    "GlorotNormal": "glorot_normal", "HeUniform": "he_uniform", "HeNormal": "he_normal",
    "LecunUniform": "lecun_uniform", "LecunNormal": "lecun_normal",
    "Orthogonal": "orthogonal", "OrthogonalInitializer": "orthogonal",
    "Identity": "identity", "IdentityInitializer": "identity",
    "VarianceScaling": "variance_scaling",
}
# Keras config keys that do not change the distribution.
_IGNORED_KEYS = {"seed", "dtype", "input_axes", "output_axes"}


def get(identifier: InitializerLike) -> Initializer:
    """Resolve a Keras initializer (name, Keras config dict or callable) to a function that fills
    a tensor in place and returns it. Callables are used as they are (``torch.nn.init.zeros_``)."""
    if identifier is None:
        return _constant(0.0)
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name not in _FACTORIES:
            raise ValueError(
                f"Unknown initializer {identifier!r}. Known initializers: {', '.join(sorted(_FACTORIES))}"
            )
        return _FACTORIES[name]()
    if isinstance(identifier, dict):
        class_name = identifier.get("class_name")
        config: dict[str, Any] = dict(identifier.get("config") or {})
        name = _ALIASES.get(str(class_name), str(class_name))
        if name not in _FACTORIES:
            raise ValueError(f"Unknown initializer {class_name!r} in config {identifier!r}")
        kwargs = {k: v for k, v in config.items() if k not in _IGNORED_KEYS}
        if "negative_slope" in kwargs:
            kwargs.pop("negative_slope")
        try:
            return _FACTORIES[name](**kwargs)
        except TypeError as e:
            raise ValueError(f"Bad initializer config {identifier!r}: {e}") from None
    raise TypeError(f"An initializer must be a name, a Keras config or a callable; got {identifier!r}")
