"""Shared fixtures. Parity tests need TensorFlow/Keras: without them they skip locally but FAIL
under CI (CI=true), so that parity can never be skipped silently where it is checked."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512 (or newer); without
# them it has no channels_first pooling and no dilated transposed convolution on the CPU, which the
# spatial-layer parity tests run as references. On: the same reference on every machine.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np
import pytest
import torch

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the large parity sweeps")
    parser.addoption("--run-fuzz", action="store_true",
                     help="run the long hostile-file fuzz campaign (tests/test_hostile_files.py)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="large sweep: opt in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def require_module(name: str):
    """Import ``name`` for a parity test: skip when missing locally, fail when missing in CI."""
    try:
        return importlib.import_module(name)
    except Exception as e:  # ImportError, or TF failing to load
        msg = f"{name} is required for Keras parity tests ({type(e).__name__}: {e})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " -- parity tests never skip in CI", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def tf():
    return require_module("tensorflow")


@pytest.fixture(scope="session")
def keras3(tf):
    keras = require_module("keras")
    assert int(keras.__version__.split(".")[0]) >= 3, f"keras {keras.__version__} is not Keras 3"
    assert keras.backend.backend() == "tensorflow"
    return keras


@pytest.fixture(scope="session")
def tfk(tf):
    """tf-keras: the Keras 2 reference."""
    return require_module("tf_keras")


@pytest.fixture(params=["keras3", "tf_keras"])
def K(request):
    """Each Keras generation in turn."""
    return request.getfixturevalue("keras3" if request.param == "keras3" else "tfk")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared_models() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.skip("../shared/models is absent (outside this repository)")
    return SHARED_MODELS
