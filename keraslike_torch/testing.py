"""Public home of the parity helpers users run in their own test suites (``kt.testing``); they
live in :mod:`keraslike_torch.tools.testing`.

>>> import keraslike_torch as kt
>>> callable(kt.testing.assert_keras_parity)
True
"""

from .tools import testing as _testing
from .tools.testing import *  # noqa: F403

__all__ = _testing.__all__
