"""The recurrent engine, laid out as Keras's ``keras.layers.rnn``: :class:`RNN` runs any cell over
time (:mod:`.rnn`) on top of the cells' base (:mod:`.base_cell`); each family keeps its cell and
its layer in one module (:mod:`.lstm`, :mod:`.gru`, :mod:`.simple_rnn`); :class:`Bidirectional`
wraps two of them. A sequence runs on torch's fused kernels (:mod:`.fused`) or on the sequence
runner (:mod:`.runner`); :mod:`.packed` handles the layers' entry (PackedSequence, vmap,
``torch.compile``) and :mod:`.dropout` their dropout masks.

Other packages import these names from here, never from the submodules.
"""

from .base_cell import RecurrentCell
from .bidirectional import Bidirectional
from .conv_lstm import ConvLSTM, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, ConvLSTMCell
from .gru import GRU, GRUCell
from .lstm import LSTM, LSTMCell
from .rnn import RNN, StateLike, validate_mask
from .simple_rnn import SimpleRNN, SimpleRNNCell
from .stacked import StackedRNNCells

__all__ = [
    "RNN", "LSTM", "GRU", "SimpleRNN", "Bidirectional",
    "RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells",
    "StateLike", "validate_mask",
    "ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell",
]
