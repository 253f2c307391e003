"""Fixtures of the core tests."""

from __future__ import annotations

import pytest

from builder.core.graph import Graph

from .helpers import FakeKinds


@pytest.fixture
def kinds() -> FakeKinds:
    return FakeKinds()


@pytest.fixture
def graph(kinds) -> Graph:
    return Graph(kinds)
