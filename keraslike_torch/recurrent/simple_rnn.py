"""Keras ``SimpleRNN``: the cell (:class:`SimpleRNNCell`, ``h' = activation(x @ K + b + h @ U)``)
and the layer (:class:`SimpleRNN`, the cell run over time by :class:`~.rnn.RNN`)."""

from __future__ import annotations

from typing import Any

import torch

from .base_cell import RecurrentCell
from .projection import inplace_or, project, project_backward, project_weight_grad
from .rnn import RNN

__all__ = ["SimpleRNNCell", "SimpleRNN"]


class SimpleRNNCell(RecurrentCell):
    """Keras SimpleRNN cell: ``h' = activation(x @ K + b + h @ U)``.

    >>> import torch, keraslike_torch as kt
    >>> tuple(kt.RNN(kt.SimpleRNNCell(3, activation="relu"), go_backwards=True)(torch.zeros(2, 4, 5)).shape)
    (2, 3)
    """

    gates = 1
    state_count = 1
    keras_class = "SimpleRNN"
    keras_order = (0,)
    fixed_keywords = {"recurrent_activation": "linear"}  # Keras's SimpleRNNCell has none

    def __init__(self, units: int, input_size: int | None = None, **kwargs: Any) -> None:
        for key in kwargs:
            if key in self.fixed_keywords:
                raise TypeError(f"SimpleRNNCell.__init__() got an unexpected keyword argument {key!r}")
        super().__init__(units, input_size, **kwargs, **self.fixed_keywords)

    def extra_repr(self) -> str:
        return (f"units={self.units}, input_size={self.input_size}, activation={self.activation.name}, "
                f"use_bias={self.use_bias}")

    def fused_mode(self) -> str | None:
        return {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(self.activation.name)

    def uses_autograd_backward(self) -> bool:
        return not self.activation.elementwise

    def make_step(self, prep, rmask, mode):
        wt, inplace = prep[0], mode != "autograd"
        fn = inplace_or(self.activation, mode == "scratch")

        def step(xp, states, extras, out):
            return (fn(project(xp, states[0], wt, rmask, inplace=inplace)),)

        return step

    def backward_prepare(self, z, extras, hist):
        act = self.activation
        return act.derivative(z, act(z)), hist[:-1, 0]  # type: ignore[misc]

    def backward_step(self, k, dnew, pre, rec, rmask, dxp, aux):
        (dh,) = dnew
        da = torch.mul(dh, pre[0][k], out=dxp[k])
        return [project_backward(da, rec[0], rmask)]

    def recurrent_grads(self, dxp, aux, pre, hist, rmask):
        return (project_weight_grad(dxp, pre[-1], rmask),)


class SimpleRNN(RNN):
    """Keras ``SimpleRNN`` with any activation (tanh and relu run on torch's fused kernels).

    >>> import keraslike_torch as kt
    >>> kt.SimpleRNN(200, input_size=593).count_params()
    158800
    """

    cell_class = SimpleRNNCell
    omitted_keywords = ("implementation",)  # Keras's SimpleRNN has one gate: nothing to choose

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**self._family_keywords(units, kwargs))
