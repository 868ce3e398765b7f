"""Public home of the recurrent cells (``kt.cells``): one time step's math of each Keras
recurrent layer. They live in :mod:`keraslike_torch.recurrent.cells`; this module keeps the
0.1 import path.

>>> import torch, keraslike_torch as kt
>>> cell = kt.cells.LSTMCell(4, input_size=3)
>>> h, (h2, c) = cell(torch.zeros(2, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))
>>> tuple(h.shape)
(2, 4)
"""

from .recurrent.cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell

__all__ = ["RecurrentCell", "LSTMCell", "GRUCell", "SimpleRNNCell"]
