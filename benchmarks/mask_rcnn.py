"""Small Mask R-CNN (and Faster R-CNN) on `shapes`: recall, mask IoU, mAP and speed.

Each detector (templates ``mask_rcnn_small`` and ``faster_rcnn_small``, 64x64
input, 3 classes) trains with Adam on seeded `shapes` instance scenes (1 to 3
objects, instance masks) for a wall-clock budget (``--seconds``, default 480 s:
issue 5's "within 8 minutes of training"), ``--chunk`` images at a time while one more chunk
(as long as the slowest of the last three) fits in the budget, the learning rate following a cosine
from ``--lr`` down to 5% of it over the budget. Then it is scored on scenes drawn with
another seed: box recall@0.5 (ground-truth objects with a detection of box
IoU >= 0.5), mean mask IoU of the matched objects (masks pasted at image size),
mAP@0.5 (VOC all-point), and training and detection throughput (images/s;
detection = network + NMS + mask pasting, whole batches).
Target (issue 5): small Mask R-CNN box recall@0.5 >= 0.8 and mean mask IoU >= 0.7.

The machine is shared: throughput varies with its load, and so do the scores,
since they depend on how many epochs fit in the budget.

Run: ``.venv/bin/python benchmarks/mask_rcnn.py [--seconds S] [--train N] [--val N]
[--only mask|faster]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from builder.detection import rcnn_model  # noqa: E402
from builder.detection.rcnn_data import shapes_instances  # noqa: E402
from builder.training.datasets.shapes import SHAPE_CLASSES  # noqa: E402


def train_for(det, data, seconds: float, batch_size: int, learning_rate: float,
              jit_compile: bool, chunk: int) -> dict:
    """Fits ``chunk`` images at a time (cycling through the data) while another chunk
    (as long as the slowest of the last three) fits in ``seconds``; cosine learning-rate
    decay over the budget."""
    det.compile(learning_rate=learning_rate, jit_compile=jit_compile)
    lr = det.train_model.optimizer.learning_rate
    spent, seen, start_at, history, durations = 0.0, 0, 0, [], [0.0]
    while spent + max(durations[-3:]) <= seconds:
        lr.assign(learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * spent / seconds))))
        part = data[np.arange(start_at, start_at + chunk) % len(data)]
        start_at = (start_at + chunk) % len(data)
        start = time.perf_counter()
        h = det.fit(part.images, part.y_true, part.masks, batch_size=batch_size, epochs=1,
                    shuffle=False, verbose=0).history
        durations.append(time.perf_counter() - start)
        spent += durations[-1]
        seen += len(part)
        history.append({k: v[-1] for k, v in h.items()})
        parts = "  ".join(f"{n} {history[-1][f'{n}_loss']:.3f}" for n in det.loss_names)
        print(f"  {det.name} {seen / len(data):.2f} epochs: loss {history[-1]['loss']:.3f} "
              f"({parts}) [{spent:.0f} s, lr {float(lr.numpy()):.1e}]", flush=True)
    return {"epochs": seen / len(data), "seconds": spent, "history": history,
            "train_images_per_s": seen / spent}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=480.0,
                        help="training budget per detector (wall clock)")
    parser.add_argument("--train", type=int, default=2000, help="training scenes")
    parser.add_argument("--val", type=int, default=300, help="held-out scenes")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=160,
                        help="images per fit call (the budget is checked between calls)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--only", choices=["mask", "faster"], help="run one detector")
    parser.add_argument("--xla", action="store_true",
                        help="XLA-compile the training step (on this CPU its compilation "
                             "costs more of the budget than it saves)")
    args = parser.parse_args(argv)

    data = shapes_instances(args.train, seed=0)
    val = shapes_instances(args.val, seed=1)
    print(f"shapes instances: {args.train} training / {args.val} held-out 64x64 scenes "
          f"({int((val.y_true[..., 4] >= 0).sum())} held-out objects), "
          f"{args.seconds:.0f} s of training each, backend {keras.backend.backend()}")
    results = {}
    for key, build in (("mask", rcnn_model.mask_rcnn), ("faster", rcnn_model.faster_rcnn)):
        if args.only and key != args.only:
            continue
        keras.utils.set_random_seed(0)
        det = build()
        fit = train_for(det, data, args.seconds, args.batch_size, args.lr, args.xla,
                        args.chunk)
        ev = det.evaluate(val.images, val.y_true, val.masks if det.with_masks else None)
        results[det.name] = {**fit, **ev, "params": det.model.count_params()}

    print()
    print(f"{'detector':<13}{'params':>11}{'epochs':>7}{'train img/s':>12}{'recall@.5':>10}"
          f"{'mask IoU':>9}{'mAP@.5':>8}{'detect img/s':>13}   AP " + " / ".join(SHAPE_CLASSES))
    for name, r in results.items():
        aps = " / ".join(f"{a:.2f}" for a in r["ap"])
        print(f"{name:<13}{r['params']:>11,}{r['epochs']:>7.1f}{r['train_images_per_s']:>12.1f}"
              f"{r['recall']:>10.3f}{r['mask_iou']:>9.3f}{r['map50']:>8.3f}"
              f"{r['images_per_s']:>13.1f}   {aps}")
    if "Mask R-CNN" in results:
        r = results["Mask R-CNN"]
        ok = r["recall"] >= 0.8 and r["mask_iou"] >= 0.7
        print(f"target small Mask R-CNN box recall@0.5 >= 0.8 and mask IoU >= 0.7 within "
              f"{args.seconds:.0f} s: {'met' if ok else 'NOT met'} (recall {r['recall']:.3f}, "
              f"mask IoU {r['mask_iou']:.3f}, {r['epochs']:.1f} epochs in {r['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
