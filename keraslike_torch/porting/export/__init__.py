"""Back to Keras: write kt modules as Keras files (``save_keras``) and live Keras objects
(``to_keras``), without TensorFlow for the files.

* :mod:`.configs`: one config writer per module class (the mirror of the converter registry);
* :mod:`.structure`: layers in Keras's order, nodes in each generation's form, tensor shapes;
* :mod:`.keras3` / :mod:`.legacy_h5`: the ``.keras`` and tf-keras ``.h5`` file writers;
* weight layouts run backwards in :mod:`keraslike_torch.porting.layouts`.
"""

from . import activation_writers as _activation_writers  # noqa: F401
from . import conv_lstm_writers as _conv_lstm_writers  # noqa: F401  (registers its writers)
from . import conv_writers as _conv_writers  # noqa: F401  (registers the convolutions' writers)
from . import spatial_writers as _spatial_writers  # noqa: F401  (registers its writers)
from .configs import ExportError
from .save import save_keras
from .to_keras import to_keras

__all__ = ["save_keras", "to_keras", "ExportError"]
