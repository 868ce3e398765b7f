"""Torch modules for the non-recurrent Keras layers a converted model needs, one family per
file as in ``keras/src/layers``, each with Keras's weight layout and mask semantics. They know
nothing of Keras files: their converters are in :mod:`keraslike_torch.converters`.

>>> import torch
>>> from keraslike_torch.layers import Dense
>>> Dense(3, input_size=2)(torch.zeros(1, 2)).shape
torch.Size([1, 3])
"""

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention
from .base import KerasLayer
from .convolutional import Conv1D
from .core import Activation, Dense, Embedding, Masking
from .dot import Dot
from .layer_normalization import LayerNormalization
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .multi_head_attention import MultiHeadAttention
from .normalization import BatchNormalization
from .ops import KerasOp
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .regularization import Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .wrappers import TimeDistributed

__all__ = [
    "KerasLayer", "KerasOp",
    # core
    "Dense", "Embedding", "Masking", "Activation",
    # regularization
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
    # merging
    "Add", "Subtract", "Average", "Multiply", "Maximum", "Minimum", "Concatenate", "Dot",
    # activation
    "Softmax", "ReLU", "LeakyReLU", "PReLU", "ELU",
    # attention
    "Attention", "AdditiveAttention", "MultiHeadAttention",
    # reshaping
    "RepeatVector", "Flatten", "Reshape", "Permute",
    # convolutional
    "Conv1D",
    # pooling
    "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
    # normalization
    "BatchNormalization", "LayerNormalization",
    # wrappers
    "TimeDistributed",
]
