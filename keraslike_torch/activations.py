"""Keras activations as torch functions, each with its exact Keras definition and derivative.

Every name a Keras (1, 2, 3) or tf-keras config can give an RNN is here. ``hard_sigmoid`` has two
definitions and the difference is silent:

* ``"hard_sigmoid"``: Keras 3, ``clip(x / 6 + 0.5, 0, 1)`` (= ``torch.nn.functional.hardsigmoid``);
* ``"hard_sigmoid_keras2"``: Keras 1/2 and tf-keras, ``clip(0.2 * x + 0.5, 0, 1)``.

A loader that knows the Keras generation of a config passes ``keras_version`` to :func:`get`, so
``"hard_sigmoid"`` from a Keras 2 file resolves to the 0.2 slope.

>>> import torch, keraslike_torch as kt
>>> x = torch.tensor([-1.0, 0.0, 1.0])
>>> kt.activations.get("hard_sigmoid")(x)
tensor([0.3333, 0.5000, 0.6667])
>>> kt.activations.get("hard_sigmoid", keras_version=2)(x)
tensor([0.3000, 0.5000, 0.7000])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Activation", "get", "names", "register", "hard_sigmoid_keras2", "ActivationLike"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_TF_LEAKY_SLOPE = 0.20000000298023224  # float(np.float32(0.2))


@dataclass(frozen=True)
class Activation:
    """An activation function with its Keras name and (for elementwise ones) its derivative.

    ``derivative(x, y)`` returns dy/dx elementwise given the input ``x`` and output ``y``; it is
    ``None`` for functions that are not elementwise (softmax) or not known (user callables), whose
    gradients the sequence runner then takes from autograd. ``fn_`` is the in-place variant the
    runner uses on its own buffers when no gradient is needed.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor] | None = None
    fn_: Callable[[Tensor], Tensor] | None = None  # in-place variant, where torch has one

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)

    @property
    def elementwise(self) -> bool:
        return self.derivative is not None

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A registered activation pickles (and deep-copies) by its name: ``get(name)`` returns the
        # registry's object, whose functions (lambdas among them) need not pickle. Others pickle
        # their functions by reference, as Python does (a user lambda cannot pickle).
        if _REGISTRY.get(self.name) is self:
            return get, (self.name,)
        return Activation, (self.name, self.fn, self.derivative, self.fn_)


ActivationLike = str | None | Activation | Callable[[Tensor], Tensor] | dict


def _mask(cond: Tensor, like: Tensor) -> Tensor:
    return cond.to(like.dtype)


def _linear(x: Tensor) -> Tensor:
    return x


def hard_sigmoid_keras2(x: Tensor) -> Tensor:
    """Keras 1/2 and tf-keras hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return torch.clamp(x * 0.2 + 0.5, 0.0, 1.0)


def _hard_sigmoid(x: Tensor) -> Tensor:
    # TensorFlow's formula; F.hardsigmoid computes the same values but its backward uses a
    # float32 1/6 even in float64.
    return F.relu6(x + 3.0) / 6.0


def _hard_silu(x: Tensor) -> Tensor:
    return x * _hard_sigmoid(x)


def _selu(x: Tensor) -> Tensor:
    return _SELU_SCALE * torch.where(x > 0, x, _SELU_ALPHA * torch.expm1(x))


def _softplus(x: Tensor) -> Tensor:
    # logaddexp stays exact for large |x| (F.softplus switches to x above 20: 2e-9 off in float64).
    return torch.logaddexp(x, torch.zeros((), dtype=x.dtype, device=x.device))


def _mish(x: Tensor) -> Tensor:
    return x * torch.tanh(_softplus(x))


def _mish_grad(x: Tensor, y: Tensor) -> Tensor:
    t = torch.tanh(_softplus(x))
    return t + x * (1 - t * t) * torch.sigmoid(x)


# TensorFlow's exact GELU (what Keras runs) uses 1/sqrt(2) rounded to float32 even in float64:
# 0.5 * x * erfc(-x * 0.70710677). torch's F.gelu uses the exact constant and differs by ~4e-9.
_TF_SQRT_HALF = 0.7071067690849304


def _gelu(x: Tensor) -> Tensor:
    return 0.5 * x * torch.erfc(-x * _TF_SQRT_HALF)


def _gelu_grad(x: Tensor, y: Tensor) -> Tensor:
    c = _TF_SQRT_HALF
    return 0.5 * torch.erfc(-x * c) + x * (c / math.sqrt(math.pi)) * torch.exp(-(c * x) ** 2)


def _silu_grad(x: Tensor, y: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def _celu(x: Tensor) -> Tensor:
    return torch.clamp(x, min=0) + torch.expm1(torch.clamp(x, max=0))


def _soft_shrink(x: Tensor) -> Tensor:
    return torch.where(x > 0.5, x - 0.5, torch.where(x < -0.5, x + 0.5, torch.zeros_like(x)))


def _hard_shrink(x: Tensor) -> Tensor:
    return torch.where(x.abs() > 0.5, x, torch.zeros_like(x))


def _sparse_plus(x: Tensor) -> Tensor:
    return torch.where(
        x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x)
    )


def _sparse_sigmoid(x: Tensor) -> Tensor:
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x >= 1, torch.ones_like(x), 0.5 * (x + 1)))


def _squareplus(x: Tensor) -> Tensor:
    return (x + torch.sqrt(x * x + 4.0)) / 2


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


def _log_softmax(x: Tensor) -> Tensor:
    return torch.log_softmax(x, dim=-1)


_REGISTRY: dict[str, Activation] = {}


def register(activation: Activation, *aliases: str) -> Activation:
    """Register an activation under its name and ``aliases`` so that configs can name it."""
    for key in (activation.name, *aliases):
        _REGISTRY[key] = activation
    return activation


for _act, _aliases in [
    (Activation("linear", _linear, lambda x, y: torch.ones_like(x), _linear), ()),
    (Activation("tanh", torch.tanh, lambda x, y: 1 - y * y, torch.tanh_), ()),
    (Activation("sigmoid", torch.sigmoid, lambda x, y: y * (1 - y), torch.sigmoid_), ()),
    (
        Activation(
            "hard_sigmoid",
            _hard_sigmoid,
            lambda x, y: _mask((x > -3) & (x < 3), x) / 6,
            torch._C._nn.hardsigmoid_,
        ),
        (),
    ),
    (
        Activation(
            "hard_sigmoid_keras2",
            hard_sigmoid_keras2,
            lambda x, y: _mask((x >= -2.5) & (x <= 2.5), x) * 0.2,
            lambda x: x.mul_(0.2).add_(0.5).clamp_(0.0, 1.0),
        ),
        ("legacy_hard_sigmoid",),
    ),
    (Activation("relu", F.relu, lambda x, y: _mask(x > 0, x), torch.relu_), ()),
    (Activation("relu6", F.relu6, lambda x, y: _mask((x > 0) & (x < 6), x)), ()),
    (
        Activation(
            "leaky_relu",
            # TF's LeakyRelu takes its slope as a float32 attribute: 0.2 is 0.20000000298 even in
            # float64.
            lambda x: F.leaky_relu(x, _TF_LEAKY_SLOPE),
            lambda x, y: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, _TF_LEAKY_SLOPE)),
        ),
        (),
    ),
    # torch's elu computes expm1(x) for x <= 0 (the in-place variant serves the runner); it is
    # within 1 ulp of TensorFlow's Elu (tests/test_activations.py)
    (Activation("elu", F.elu, lambda x, y: torch.where(x > 0, torch.ones_like(x), y + 1), F.elu_), ()),
    (
        Activation(
            "selu",
            _selu,
            lambda x, y: torch.where(
                x > 0, torch.full_like(x, _SELU_SCALE), y + _SELU_SCALE * _SELU_ALPHA
            ),
        ),
        (),
    ),
    (Activation("celu", _celu, lambda x, y: torch.where(x > 0, torch.ones_like(x), torch.exp(x))), ()),
    (Activation("softplus", _softplus, lambda x, y: torch.sigmoid(x)), ()),
    (Activation("softsign", F.softsign, lambda x, y: 1 / (1 + x.abs()) ** 2), ()),
    (Activation("exponential", torch.exp, lambda x, y: y), ()),
    (Activation("silu", F.silu, _silu_grad), ("swish",)),
    (Activation("gelu", _gelu, _gelu_grad), ()),
    (
        Activation(
            "hard_silu",
            _hard_silu,
            lambda x, y: torch.where(
                x <= -3, torch.zeros_like(x), torch.where(x >= 3, torch.ones_like(x), (2 * x + 3) / 6)
            ),
        ),
        ("hard_swish",),
    ),
    (Activation("mish", _mish, _mish_grad), ()),
    (Activation("log_sigmoid", F.logsigmoid, lambda x, y: torch.sigmoid(-x)), ()),
    (Activation("hard_tanh", lambda x: torch.clamp(x, -1.0, 1.0), lambda x, y: _mask(x.abs() <= 1, x)), ()),
    (Activation("tanh_shrink", lambda x: x - torch.tanh(x), lambda x, y: torch.tanh(x) ** 2), ()),
    (Activation("soft_shrink", _soft_shrink, lambda x, y: _mask(x.abs() > 0.5, x)), ()),
    (Activation("hard_shrink", _hard_shrink, lambda x, y: _mask(x.abs() > 0.5, x)), ()),
    (
        Activation(
            "sparse_plus",
            _sparse_plus,
            lambda x, y: torch.where(
                x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.5 * (x + 1), torch.ones_like(x))
            ),
        ),
        (),
    ),
    (Activation("sparse_sigmoid", _sparse_sigmoid, lambda x, y: _mask(x.abs() < 1, x) * 0.5), ()),
    (Activation("squareplus", _squareplus, lambda x, y: 0.5 * (1 + x / torch.sqrt(x * x + 4.0))), ()),
    (Activation("softmax", _softmax), ()),
    (Activation("log_softmax", _log_softmax), ()),
]:
    register(_act, *_aliases)

# torch callables a user may pass instead of a name.
_KNOWN_CALLABLES: dict[Any, str] = {
    torch.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.tanh: "tanh",
    F.relu: "relu",
    torch.relu: "relu",
    F.hardsigmoid: "hard_sigmoid",
    hard_sigmoid_keras2: "hard_sigmoid_keras2",
    F.relu6: "relu6",
    F.silu: "silu",
    F.softsign: "softsign",
    F.logsigmoid: "log_sigmoid",
    torch.exp: "exponential",
}

# Names that only exist under Keras 3; a Keras 1/2 config never holds them, but a user may.
_KERAS2_OVERRIDES = {"hard_sigmoid": "hard_sigmoid_keras2"}


def names() -> list[str]:
    """All registered activation names (aliases included)."""
    return sorted(_REGISTRY)


def get(identifier: ActivationLike, keras_version: int = 3) -> Activation:
    """Resolve a Keras activation identifier to an :class:`Activation`.

    ``identifier`` may be a name (``"tanh"``), ``None`` (linear, as in Keras), an
    :class:`Activation`, a Keras 3 serialized dict (``{"class_name": "function", "config": "tanh"}``)
    or any callable on tensors. ``keras_version`` picks the generation whose definitions a name
    means: ``"hard_sigmoid"`` is the 0.2-slope function for ``keras_version < 3``.

    >>> get("swish").name
    'silu'
    """
    if identifier is None:
        return _REGISTRY["linear"]
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, dict):
        config = identifier.get("config")
        if isinstance(config, str):
            return get(config, keras_version)
        if isinstance(config, dict) and "name" in config:
            return get(config["name"], keras_version)
        raise ValueError(f"Unsupported activation config: {identifier!r}")
    if isinstance(identifier, str):
        name = identifier
        if keras_version < 3:
            name = _KERAS2_OVERRIDES.get(name, name)
        try:
            return _REGISTRY[name]
        except KeyError:
            raise ValueError(
                f"Unknown activation {identifier!r}. Known activations: {', '.join(names())}"
            ) from None
    if callable(identifier):
        known = _KNOWN_CALLABLES.get(identifier)
        if known is not None:
            return _REGISTRY[known]
        name = getattr(identifier, "__name__", type(identifier).__name__)
        return Activation(f"custom:{name}", identifier)
    raise TypeError(f"An activation must be a name, None or a callable; got {identifier!r}")
