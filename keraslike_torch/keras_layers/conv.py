"""0.1 path of Conv1D, the 1D poolings, BatchNormalization, LayerNormalization and
TimeDistributed: see :mod:`keraslike_torch.keras_layers`."""

from ..layers import (  # noqa: F401
    AveragePooling1D,
    BatchNormalization,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    KerasLayer,
    LayerNormalization,
    MaxPooling1D,
    TimeDistributed,
)
