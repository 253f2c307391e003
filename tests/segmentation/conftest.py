"""Fixtures of the segmentation and localization tests."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module", autouse=True)
def _fresh_keras_session():
    # Models built here advance Keras' global name counters; reset them after
    # each module so later tests see the names a fresh process gives.
    yield
    keras.backend.clear_session()
