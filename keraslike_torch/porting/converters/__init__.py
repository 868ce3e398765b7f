"""The converters: one small function per Keras class, registered by name in
:mod:`keraslike_torch.porting.registry`, one file per family. Importing this package fills the
registry."""

from . import activation as _activation  # noqa: F401
from . import attention as _attention  # noqa: F401
from . import conv_lstm as _conv_lstm  # noqa: F401
from . import convolutional as _convolutional  # noqa: F401
from . import core as _core  # noqa: F401
from . import merging as _merging  # noqa: F401
from . import models as _models  # noqa: F401
from . import normalization as _normalization  # noqa: F401
from . import ops as _ops  # noqa: F401
from . import pooling as _pooling  # noqa: F401
from . import recurrent as _recurrent  # noqa: F401
from . import regularization as _regularization  # noqa: F401
from . import reshaping as _reshaping  # noqa: F401
from . import wrappers as _wrappers  # noqa: F401
