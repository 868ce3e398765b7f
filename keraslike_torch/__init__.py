"""keraslike_torch: Keras recurrent layers for PyTorch that match Keras number for number.

>>> import torch, keraslike_torch as kt
>>> lstm = kt.LSTM(8, return_sequences=True, return_state=True)
>>> seq, h, c = lstm(torch.randn(2, 5, 3))
>>> tuple(seq.shape), tuple(h.shape), tuple(c.shape)
((2, 5, 8), (2, 8), (2, 8))
"""

from . import activations, cells, converters, initializers, testing
from .porting.formats import KerasFileError
from .porting.graph import KerasModel, load_model, load_weights, model_from_config, model_from_json, read_weights
from .porting.live import from_keras
from .recurrent.bidirectional import Bidirectional
from .recurrent.rnn import GRU, LSTM, RNN, SimpleRNN
from .tools.summary import summary

__version__ = "0.1.0"

__all__ = [
    "LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "from_keras", "summary",
    "KerasModel", "load_model", "load_weights", "model_from_json", "model_from_config", "read_weights",
    "KerasFileError",
    "activations", "cells", "converters", "initializers", "testing",
]

from .porting.export import save_keras, to_keras  # noqa: E402

__all__ += ["save_keras", "to_keras"]
