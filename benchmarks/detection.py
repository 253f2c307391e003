"""SSD, YOLO and Faster R-CNN side by side on `shapes`: mAP@0.5 and speed.

The lecture's trade-off — single-shot detectors faster, Faster R-CNN more
accurate — measured on one data set. The single-shot detectors (templates
``ssd_small`` and ``yolo_small``, 64x64 input) train
with Adam on the same seeded `shapes` detection scenes (1 to 3 objects) for the
same wall-clock budget (``--seconds``, default 180 s: issue 5's "within 3
minutes of training"), epoch by epoch while one more epoch fits in the budget,
then are evaluated on scenes drawn with another seed. Faster R-CNN
(``faster_rcnn_small``) trains on the same scenes for the same budget, the way
benchmarks/mask_rcnn.py trains it (chunks of images, cosine learning rate), and
is scored on the same held-out scenes and ground truth.
Reported per detector: epochs done, training images/s, mAP@0.5
(with per-class AP), and detection throughput (images/s through the model and
its decoding + per-class NMS; batch 64 for SSD/YOLO, 32 for Faster R-CNN), plus
YOLO's and Faster R-CNN's speed and mAP as ratios of SSD's, measured in the same run. Target (issue 5): small SSD mAP@0.5 >= 0.6.

The machine is shared: training and throughput figures vary with its load;
mAP depends on how many epochs the budget allowed.

Run: ``.venv/bin/python benchmarks/detection.py [--seconds S] [--train N] [--val N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from benchmarks.mask_rcnn import train_for as train_rcnn_for  # noqa: E402
from builder.detection import models, rcnn_model  # noqa: E402
from builder.detection.data import NUM_CLASSES, shapes_detection  # noqa: E402
from builder.detection.rcnn_data import shapes_instances  # noqa: E402
from builder.training.datasets.shapes import SHAPE_CLASSES  # noqa: E402


def train_for(det, images, y_true, seconds: float, batch_size: int) -> dict:
    """Fits epoch by epoch while another epoch (as long as the last) fits in ``seconds``."""
    det.compile(learning_rate=2e-3)
    spent, epochs, losses, last = 0.0, 0, [], 0.0
    while spent + last <= seconds:
        start = time.perf_counter()
        history = det.model.fit(images, y_true, batch_size=batch_size, epochs=1, verbose=0)
        last = time.perf_counter() - start
        spent += last
        epochs += 1
        losses.append(history.history["loss"][-1])
        print(f"  {det.name} epoch {epochs}: loss {losses[-1]:.3f} ({spent:.0f} s)",
              flush=True)
    return {"epochs": epochs, "seconds": spent, "losses": losses,
            "train_images_per_s": epochs * len(images) / spent}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0,
                        help="training budget per detector (wall clock)")
    parser.add_argument("--train", type=int, default=2000, help="training scenes")
    parser.add_argument("--val", type=int, default=500, help="held-out scenes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", choices=["ssd", "yolo", "faster"], help="run one detector")
    args = parser.parse_args(argv)

    images, y_true = shapes_detection(args.train, seed=0)
    val_images, val_true = shapes_detection(args.val, seed=1)
    print(f"shapes detection: {args.train} training / {args.val} held-out 64x64 scenes, "
          f"{args.seconds:.0f} s of training each, backend {keras.backend.backend()}")
    results = {}
    for name in ("ssd", "yolo", "faster"):
        if args.only and name != args.only:
            continue
        keras.utils.set_random_seed(0)
        if name == "faster":
            det = rcnn_model.faster_rcnn()
            # The same training scenes (seed 0), with the instance data the trainer takes.
            fit = train_rcnn_for(det, shapes_instances(args.train, seed=0), args.seconds,
                                 batch_size=16, learning_rate=2e-3, jit_compile=False,
                                 chunk=160)
            ev = det.evaluate(val_images, val_true)
        else:
            det = getattr(models, name)()
            fit = train_for(det, images, y_true, args.seconds, args.batch_size)
            ev = det.evaluate(val_images, val_true, NUM_CLASSES)
        results[det.name] = {**fit, **ev, "params": det.model.count_params()}

    print()
    print(f"{'detector':<13}{'params':>10}{'epochs':>8}{'train img/s':>13}"
          f"{'mAP@0.5':>9}{'detect img/s':>14}   AP " + " / ".join(SHAPE_CLASSES))
    for name, r in results.items():
        aps = " / ".join(f"{a:.2f}" for a in r["ap"])
        print(f"{name:<13}{r['params']:>10,}{r['epochs']:>8.1f}{r['train_images_per_s']:>13.0f}"
              f"{r['map50']:>9.3f}{r['images_per_s']:>14.0f}   {aps}")
    ssd = results.get("SSD")
    for name, other in results.items():
        if ssd is not None and other is not ssd:
            print(f"{name} / SSD: detection speed x{other['images_per_s'] / ssd['images_per_s']:.2f}"
                  f", mAP x{other['map50'] / max(ssd['map50'], 1e-9):.2f}")
    if "SSD" in results:
        ok = results["SSD"]["map50"] >= 0.6
        print(f"target small SSD mAP@0.5 >= 0.6 within {args.seconds:.0f} s: "
              f"{'met' if ok else 'NOT met'} ({results['SSD']['map50']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
