"""Constructor-keyword recording: ``get_config()`` for modules, so that a layer can be cloned
and written out as Python code by the converter."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["RecordsConfig", "LazyBuild", "UninitializedBuffer", "check_weights", "loaded_shape", "as_bool_mask",
           "check_rate"]


class RecordsConfig:
    """Mixin: each instance remembers the keywords its outermost ``__init__`` was called with."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_records_config", False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def wrapped(self: Any, *args: Any, **kw: Any) -> None:
            if "_config" not in self.__dict__:
                try:
                    bound = signature.bind(self, *args, **kw)
                except TypeError as e:  # name the layer: "LSTM(): got an unexpected keyword ..."
                    raise TypeError(f"{type(self).__name__}(): {e}") from None
                config: dict[str, Any] = {}
                for name, value in list(bound.arguments.items())[1:]:
                    kind = signature.parameters[name].kind
                    if kind is inspect.Parameter.VAR_KEYWORD:
                        config.update(value)
                    elif kind is not inspect.Parameter.VAR_POSITIONAL:
                        config[name] = value
                object.__setattr__(self, "_config", config)
            init(self, *args, **kw)

        wrapped._records_config = True  # type: ignore[attr-defined]
        cls.__init__ = wrapped  # type: ignore[misc]

    def get_config(self) -> dict[str, Any]:
        """The keywords this object was constructed with (Keras ``get_config`` analogue)."""
        return dict(self.__dict__.get("_config", {}))


class LazyBuild:
    """Mixin for layers sized at their first call, weight load or state-dict load.

    The class names the attribute holding its size (``size_attr``, None until built) and what it
    counts (``size_what``); ``_materialize(size)`` creates the tensors and sets that attribute.
    :meth:`build` then initializes them with the Keras initializers (``reset_parameters``).

    It also makes an unbuilt layer behave like torch's lazy modules: ``state_dict()`` holds the
    ``UninitializedParameter`` entries (loadable into another unbuilt layer), and a first build
    under ``torch.inference_mode()`` still creates ordinary parameters.
    """

    size_attr: str = "input_size"
    size_what: str = "input features"

    @property
    def built(self) -> bool:
        return getattr(self, self.size_attr) is not None

    def build(self, size: Any, initialize: bool = True) -> None:
        """Size the layer for ``size`` (once; a different size later is an error) and
        initialize its weights (``initialize=False`` when they are about to be overwritten)."""
        size = tuple(int(d) for d in size) if isinstance(size, (tuple, list)) else int(size)
        current = getattr(self, self.size_attr)
        if current is not None:
            if size != current:
                raise ValueError(f"{type(self).__name__} was built for {current} {self.size_what}, got {size}")
            return
        # Parameters made under inference_mode would be inference tensors, unusable for training
        # later: a layer's weights are made as ordinary tensors whatever mode its first call is in.
        with torch.inference_mode(False):
            self._materialize(size)
            if initialize:
                self.reset_parameters()  # type: ignore[attr-defined]

    def _materialize(self, size: Any) -> None:
        raise NotImplementedError

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        # As torch.nn.modules.lazy.LazyModuleMixin: uninitialized entries are saved as they are
        # (``detach()`` of an UninitializedParameter raises).
        local: dict[str, Any] = {}
        super()._save_to_state_dict(local, prefix, True)  # type: ignore[misc]
        for key, value in local.items():
            if isinstance(value, Tensor) and not keep_vars and not nn.parameter.is_lazy(value):
                value = value.detach()
            destination[key] = value


class UninitializedBuffer(nn.UninitializedBuffer):
    """``torch.nn.UninitializedBuffer`` that deep-copies (torch's own raises in ``deepcopy``,
    unlike ``UninitializedParameter``), so unbuilt layers with lazy buffers deep-copy."""

    def __deepcopy__(self, memo: dict[int, Any]) -> UninitializedBuffer:
        if id(self) not in memo:
            data = self.data
            memo[id(self)] = type(self)(  # type: ignore[call-arg]
                requires_grad=self.requires_grad, device=data.device, dtype=data.dtype
            )
        return memo[id(self)]


def loaded_shape(state_dict: Any, key: str) -> tuple[int, ...] | None:
    """Shape of ``state_dict[key]`` for sizing an unbuilt layer in ``_load_from_state_dict``; None
    when the key is absent or holds an uninitialized (unbuilt) entry, which leaves it unbuilt."""
    value = state_dict.get(key)
    if value is None or not isinstance(value, Tensor) or nn.parameter.is_lazy(value):
        return None
    return tuple(value.shape)


def as_bool_mask(mask: Any, device: Any) -> Tensor:
    """A Keras mask (tensor or array; bool, or numbers holding only 0 and 1) as a bool tensor on
    ``device``. While a tracer records a graph the 0/1 values are not checked: nonzero is valid.
    Every layer that takes a mask converts it through this one function."""
    from . import tracing

    if not isinstance(mask, Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    if mask.dtype != torch.bool:
        if mask.is_complex() or (
            tracing.can_check_values() and not bool(((mask == 0) | (mask == 1)).all())
        ):
            raise ValueError("mask must be boolean or hold only 0 and 1 values")
        mask = mask != 0
    return mask.to(device)


def check_weights(layer_name: str, weights: Sequence[Any], expected: Sequence[tuple[int, ...]],
                  dtype: torch.dtype, device: Any = None, note: str = "") -> list[Tensor]:
    """Validate Keras ``get_weights()``-style arrays against ``expected`` shapes and return them as
    tensors of ``dtype``. Raises ValueError naming the expected shapes (nothing is changed).
    Every layer's ``set_keras_weights`` validates through this one function."""
    if isinstance(weights, (np.ndarray, Tensor)) or not isinstance(weights, Sequence):
        raise ValueError(f"{layer_name} weights must be a list of arrays, got {type(weights).__name__}")
    arrays = []
    for i, w in enumerate(weights):
        a = w.detach().cpu().numpy() if isinstance(w, Tensor) else np.asarray(w)
        if a.dtype.kind != "f":
            raise ValueError(f"{layer_name}: weight {i} has dtype {a.dtype}; expected floating-point values")
        arrays.append(a)
    got = [tuple(a.shape) for a in arrays]
    want = [tuple(int(d) for d in s) for s in expected]
    if got != want:
        raise ValueError(
            f"{layer_name} expects {len(want)} weights with shapes {want}{note}, got {len(got)} with shapes {got}"
        )
    return [torch.as_tensor(a).to(device=device, dtype=dtype) for a in arrays]


def check_rate(name: str, value: Any) -> float:
    """A dropout rate: a number in [0, 1) (ValueError naming ``name`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)
