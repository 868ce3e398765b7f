"""The 0.1 import paths of the non-recurrent layers, kept so that code written by 0.1's
``keraslike-torch convert`` (``from keraslike_torch.keras_layers import core``) and modules
pickled by 0.1 keep loading. The layers live in :mod:`keraslike_torch.layers`."""

from ..layers import KerasLayer

__all__ = ["KerasLayer"]
