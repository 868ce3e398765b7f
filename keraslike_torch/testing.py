"""Public home of the parity helpers users run in their own test suites (``kt.testing``); they
live in :mod:`keraslike_torch.tools.testing`.

>>> import keraslike_torch as kt
>>> callable(kt.testing.assert_keras_parity)
True
"""

from .tools.testing import (
    OutputDiff,
    ParityReport,
    assert_keras_gradient_parity,
    assert_keras_parity,
    compare_outputs,
    default_tolerances,
    dropout_masks,
    keras_generation,
)

__all__ = [
    "assert_keras_parity",
    "assert_keras_gradient_parity",
    "compare_outputs",
    "default_tolerances",
    "dropout_masks",
    "ParityReport",
    "OutputDiff",
    "keras_generation",
]
