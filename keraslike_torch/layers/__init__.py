"""Torch modules for the non-recurrent Keras layers a converted model needs, one family per
file as in ``keras/src/layers``, each with Keras's weight layout and mask semantics. They know
nothing of Keras files: their converters are in :mod:`keraslike_torch.porting.converters`.

>>> import torch
>>> from keraslike_torch.layers import Dense
>>> Dense(3, input_size=2)(torch.zeros(1, 2)).shape
torch.Size([1, 3])
"""

from .base import KerasLayer
from .convolutional import (
    AveragePooling1D,
    BatchNormalization,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    LayerNormalization,
    MaxPooling1D,
    TimeDistributed,
)
from .core import (
    Activation,
    Add,
    Average,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    Masking,
    Maximum,
    Minimum,
    Multiply,
    Permute,
    RepeatVector,
    Reshape,
    SpatialDropout1D,
    Subtract,
)
from .ops import KerasOp

__all__ = [
    "KerasLayer", "KerasOp",
    # core
    "Dense", "Embedding", "Masking", "Activation",
    # regularization
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
    # merging
    "Add", "Subtract", "Average", "Multiply", "Maximum", "Minimum", "Concatenate",
    # reshaping
    "RepeatVector", "Flatten", "Reshape", "Permute",
    # convolutional, pooling
    "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
    # normalization
    "BatchNormalization", "LayerNormalization",
    # wrappers
    "TimeDistributed",
]
