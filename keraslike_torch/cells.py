"""Public home of the recurrent cells (``kt.cells``): one time step's math of each Keras
recurrent layer. They live with their layers in :mod:`keraslike_torch.recurrent` (``lstm``,
``gru``, ``simple_rnn``; the base in ``base_cell``; :class:`StackedRNNCells` in ``stacked``); this
module keeps the 0.1 import path.

>>> import keraslike_torch as kt
>>> cell = kt.cells.LSTMCell(4, input_size=3)
>>> [tuple(w.shape) for w in cell.get_keras_weights()]
[(3, 16), (4, 16), (16,)]
>>> kt.RNN(cell, return_sequences=True).units
4
>>> kt.LSTMCell is kt.cells.LSTMCell  # also top-level names, as in keras.layers
True
"""

from .recurrent import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell, StackedRNNCells

__all__ = ["RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells"]
