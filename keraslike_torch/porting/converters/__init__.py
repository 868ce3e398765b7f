"""The converters: one small function per Keras class, registered by name in
:mod:`keraslike_torch.porting.registry`. Importing this package fills the registry."""

from ... import layers as _layers  # noqa: F401
from ...layers import convolutional as _convolutional  # noqa: F401
from ...layers import core as _core  # noqa: F401
from ...layers import ops as _ops  # noqa: F401
from .. import registry as _registry  # noqa: F401
from . import models as _models  # noqa: F401
