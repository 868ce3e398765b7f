"""keraslike_torch: Keras recurrent layers for PyTorch that match Keras number for number.

>>> import torch, keraslike_torch as kt
>>> lstm = kt.LSTM(8, return_sequences=True, return_state=True)
>>> seq, h, c = lstm(torch.randn(2, 5, 3))
>>> tuple(seq.shape), tuple(h.shape), tuple(c.shape)
((2, 5, 8), (2, 8), (2, 8))
"""

from . import _compat, activations, cells, converters, initializers, testing
from ._version import __version__ as __version__
from .porting.builders import model_from_config, model_from_json
from .porting.formats import KerasFileError
from .porting.graph import KerasModel
from .porting.live import from_keras
from .porting.loading import load_model
from .porting.weights import load_weights, read_weights
from .recurrent import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    ConvLSTM1D,
    ConvLSTM2D,
    ConvLSTM3D,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
)
from .tools.summary import summary

_compat.install()

__all__ = [
    "LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "from_keras", "summary",
    "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells",
    "KerasModel", "load_model", "load_weights", "model_from_json", "model_from_config", "read_weights",
    "KerasFileError", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "activations", "cells", "converters", "initializers", "testing",
]

from .porting.export import save_keras, to_keras  # noqa: E402

__all__ += ["save_keras", "to_keras"]
