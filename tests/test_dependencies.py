"""Known facts about the dependencies (DESIGN.md) stay true in this environment."""

import subprocess
import sys
import textwrap
from importlib.metadata import version


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_keras_carries_the_loading_cve_fixes():
    assert _version_tuple(version("keras")) >= (3, 15, 1)


def test_pyside6_survives_many_calls_that_return_nothing():
    # PySide6 6.12.0 on Python 3.11 drops None's refcount on every such call and
    # aborts after some thousands (none_dealloc). Run it in a child so an abort
    # is a failure here, not the end of the test session.
    script = textwrap.dedent("""
        import os
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication, QWidget
        app = QApplication([])
        w = QWidget()
        for _ in range(50_000):
            w.update()
            w.setToolTip("x")
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, (
        f"PySide6 {version('PySide6-Essentials')} crashed: {result.stderr[-500:]}")
