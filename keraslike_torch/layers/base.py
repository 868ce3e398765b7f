"""The contract every converted non-recurrent Keras layer follows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..common.config import RecordsConfig, check_weights

__all__ = ["KerasLayer", "check_weights"]


class KerasLayer(RecordsConfig, nn.Module):
    """Base class of converted non-recurrent Keras layers.

    * ``name``: the Keras layer name; ``keras_class``: the Keras class it reproduces.
    * ``forward(inputs, mask=None, training=None)``: ``inputs`` is a tensor, or a list of tensors
      for merge layers; ``mask`` the Keras mask of the inputs (a (B, T) bool tensor, or a list for
      merge layers); ``training`` defaults to ``self.training`` (dropout/noise/batch statistics).
    * ``compute_mask(inputs, mask)``: the mask of the output, with Keras 2 (tf-keras) semantics;
      Keras 3 files record their masks as explicit ops, so the implicit propagation used for
      Keras 1/2 configs follows tf-keras. Layers that do not support masking return None.
    * ``get_keras_weights()`` / ``set_keras_weights(list)`` / ``keras_weight_shapes()``: exactly
      Keras ``layer.get_weights()`` order and shapes (non-trainable ones like BatchNormalization's
      moving statistics included); setting is atomic and builds a lazily-sized layer.
    * ``keras_param_counts()``: (trainable, non-trainable) as Keras counts them.
    * ``get_config()``: the constructor keywords (recorded automatically), used to clone layers
      and to write converted models out as Python code; constructor arguments should therefore
      be plain values (numbers, strings, tuples, dtypes), not tensors.
    """

    keras_class: str = ""
    supports_masking: bool = False

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.supports_masking else None

    def keras_weight_shapes(self) -> list[tuple[int, ...]]:
        return []

    def get_keras_weights(self) -> list[np.ndarray]:
        return []

    def set_keras_weights(self, weights: Sequence[Any]) -> None:
        check_weights(self.name or self.keras_class, weights, [], torch.get_default_dtype())

    def keras_gradients(self) -> list[Tensor | None]:
        return []

    def keras_param_counts(self) -> tuple[int, int]:
        n = sum(int(np.prod(s)) for s in self.keras_weight_shapes())
        return n, 0

    def count_params(self) -> int:
        return sum(self.keras_param_counts())

    def _training(self, training: bool | None) -> bool:
        return self.training if training is None else bool(training)
