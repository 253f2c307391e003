"""The tiers of DESIGN.md hold: the pure tiers import no Keras, TensorFlow or Qt."""

import subprocess
import sys
import textwrap


def _imported_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + textwrap.dedent("""
        import sys
        heavy = {"keras", "tensorflow", "PySide6", "pyqtgraph", "jax", "torch"}
        print(",".join(sorted(m for m in heavy if m in sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return {m for m in out.stdout.strip().split(",") if m}


def test_pure_tiers_import_no_framework():
    assert _imported_after("""
        import builder.core, builder.blocks, builder.analysis
        import builder.analysis.summary
    """) == set()


def test_training_config_and_schedule_preview_import_no_framework():
    # The GUI previews a schedule live and validates settings without TensorFlow.
    assert _imported_after("""
        import builder.training
        from builder.training.config import validate_training
        from builder.training.schedule_preview import schedule_preview
        validate_training({"optimizer": {"name": "sgd"}, "schedule": {"name": "cosine"}})
        schedule_preview({"schedule": {"name": "cyclical"}}, 10, 5)
    """) == set()


def test_public_api_and_analysis_of_a_template_import_no_framework():
    assert _imported_after("""
        import builder
        p = builder.from_template("vgg16")
        builder.analyze(p.graph)
    """) == set()


def test_compiling_imports_keras_only_when_asked():
    imported = _imported_after("""
        import builder
        builder.to_keras(builder.from_template("vgg16").graph)
    """)
    assert "keras" in imported
    assert "PySide6" not in imported
