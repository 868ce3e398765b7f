"""Torch modules for the non-recurrent Keras layers a converted model needs (Dense, Embedding,
Conv1D, pooling, normalization, merges, reshapes, ...), each with Keras's weight layout and mask
semantics, and their converters (registered in :mod:`keraslike_torch.converters`)."""

from .base import KerasLayer

__all__ = ["KerasLayer"]
