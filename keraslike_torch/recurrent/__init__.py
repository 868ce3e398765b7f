"""The recurrent engine: cells (one step's math), the RNN layer that runs a cell over time and
its LSTM/GRU/SimpleRNN subclasses, Bidirectional, and the two ways a sequence is run: torch's
fused kernels (:mod:`.fused`) or the sequence runner (:mod:`.runner`)."""

from .bidirectional import Bidirectional
from .rnn import GRU, LSTM, RNN, SimpleRNN

__all__ = ["RNN", "LSTM", "GRU", "SimpleRNN", "Bidirectional"]
