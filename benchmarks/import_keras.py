"""How fast is importing a Keras model, against building it with Keras?

For each keras.applications network (``weights=None``), measured in this run:
the Keras build (one run: building is seconds), then the import of the built
model (median of several runs) split into Keras' own serialisation
(``serialize_keras_object``) and our part (vetting, conversion, graph, full
analysis), and whether the parameter counts agree. Ratios are against the
build measured here, on this machine, now.

Run: ``.venv/bin/python benchmarks/import_keras.py [--runs N] [NAME ...]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from builder.analysis import analyze  # noqa: E402
from builder.compile.from_keras import _serialize, convert_config, keras_layers  # noqa: E402

APPLICATIONS = ("VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2",
                "InceptionV3", "DenseNet121", "MobileNet", "MobileNetV2", "Xception",
                "EfficientNetB0", "ConvNeXtTiny", "NASNetMobile")


def median_ms(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=APPLICATIONS)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'application':<15} {'layers':>6} {'params (Keras)':>15} {'params (ours)':>15} "
          f"{'same':>4} {'build ms':>9} {'serialize ms':>12} {'ours ms':>8} "
          f"{'import ms':>9} {'build/import':>12}")
    for name in args.names:
        start = time.perf_counter()
        model = getattr(keras.applications, name)(weights=None)
        build_ms = (time.perf_counter() - start) * 1e3
        serialize_ms, document = median_ms(lambda: _serialize(model), args.runs)
        ours_ms, _ = median_ms(
            lambda: analyze(convert_config(document).project.graph), args.runs)
        analysis = analyze(convert_config(document).project.graph)
        total = serialize_ms + ours_ms
        ours, theirs = analysis.totals.params, model.count_params()
        print(f"{name:<15} {len(keras_layers(model)):>6} {theirs:>15,} {ours:>15,} "
              f"{'yes' if ours == theirs else 'NO':>4} {build_ms:>9.0f} "
              f"{serialize_ms:>12.1f} {ours_ms:>8.1f} {total:>9.1f} "
              f"{build_ms / total:>11.0f}x", flush=True)
        del model, document
        keras.backend.clear_session()
        gc.collect()


if __name__ == "__main__":
    main()
