"""Core Keras layers: Embedding, Masking, Dense, Activation, dropout/noise, merges, reshapes."""

from __future__ import annotations
