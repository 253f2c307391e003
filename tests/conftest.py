"""Shared test set-up: quiet TensorFlow, offscreen Qt, paths to the oracles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def lecture_text() -> str:
    """The seed lecture, whose formulas and tables are test oracles."""
    seeds = sorted((SHARED / "seed").glob("*.txt"))
    if not seeds:
        pytest.fail(f"The lecture oracle is missing: expected ../shared/seed/*.txt "
                    f"beside the repository (looked in {SHARED / 'seed'}).")
    return seeds[0].read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def templates_dir() -> Path:
    """The shipped templates."""
    return ROOT / "templates"
