"""Public home of the converter registry (``kt.converters``): Keras class name -> a function
that turns the layer's config into a torch module. The registry is
:mod:`keraslike_torch.porting.registry`; the converters themselves, one small function per Keras
class, are in :mod:`keraslike_torch.porting.converters`.

>>> import keraslike_torch as kt
>>> m = kt.converters.convert_layer("GRU", {"units": 2})
>>> type(m).__name__, m.units
('GRU', 2)
"""

from .porting import converters as _converters  # noqa: F401  (fills the registry)
from .porting import registry as _registry
from .porting.registry import *  # noqa: F403

__all__ = _registry.__all__
