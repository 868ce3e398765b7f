"""Convolution, pooling, normalization and TimeDistributed Keras layers."""

from __future__ import annotations
