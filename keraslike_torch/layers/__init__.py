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
from .conv_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from .convolutional import Conv1D, Conv2D, Conv3D
from .core import Activation, Dense, Embedding, Masking
from .depthwise_separable import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .dot import Dot
from .layer_normalization import LayerNormalization
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .multi_head_attention import MultiHeadAttention
from .normalization import BatchNormalization
from .ops import KerasOp
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from .regularization import Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .spatial_reshaping import (
    Cropping1D,
    Cropping2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
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
    "UpSampling1D", "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    # convolutional
    "Conv1D", "Conv2D", "Conv3D",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    # pooling
    "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
    "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
    "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D",
    # normalization
    "BatchNormalization", "LayerNormalization",
    # wrappers
    "TimeDistributed",
]
