"""Fixtures of the compile tests."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module", autouse=True)
def _fresh_keras_session():
    # Unnamed models and tensors advance Keras' global name counters, and every
    # model built here stays in Keras' graph until cleared: reset both after each
    # module so later tests see what a fresh process would.
    yield
    keras.backend.clear_session()
