"""0.1 path of Dense, Embedding, Masking, Activation, the dropouts and noise, merges and
reshapes: see :mod:`keraslike_torch.keras_layers`."""

from ..layers import (  # noqa: F401
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
    KerasLayer,
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
