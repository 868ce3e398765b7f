"""0.1 path of the convolutions, the 1D poolings, BatchNormalization, LayerNormalization and
TimeDistributed: see :mod:`keraslike_torch.keras_layers`."""

from ..layers import (  # noqa: F401
    AveragePooling1D,
    BatchNormalization,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    KerasLayer,
    LayerNormalization,
    MaxPooling1D,
    SeparableConv1D,
    SeparableConv2D,
    TimeDistributed,
)
