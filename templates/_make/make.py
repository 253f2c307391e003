"""Writes templates/*.json through builder's own save path.

Run from the repository root::

    .venv/bin/python templates/_make/make.py            # (re)write every template
    .venv/bin/python templates/_make/make.py --check    # exit 1 if a file is stale

Each template is a function returning a :class:`builder.core.project.Project`;
saving it with :func:`builder.save` gives the canonical bytes (stable key order),
so running this twice changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import builder  # noqa: E402
from builder.core.project import dumps_project  # noqa: E402

import classic  # noqa: E402
import detection  # noqa: E402
import imagenet2012 as inet  # noqa: E402
import multibranch as mb  # noqa: E402
import rcnn  # noqa: E402
import resnets  # noqa: E402
import segmentation_nets  # noqa: E402

#: file stem -> function building the template
TEMPLATES = {
    "linear": classic.linear,
    "mlp": classic.mlp,
    "lenet": classic.lenet,
    "alexnet": inet.alexnet,
    "alexnet_torchvision": inet.alexnet_torchvision,
    "zfnet": inet.zfnet,
    "vgg11": lambda: inet.vgg("A"),
    "vgg11_lrn": lambda: inet.vgg("A-LRN"),
    "vgg13": lambda: inet.vgg("B"),
    "vgg16c": lambda: inet.vgg("C"),
    "vgg19": lambda: inet.vgg("E"),
    "resnet18": lambda: resnets.resnet(18, use_bias=False),
    "resnet34": lambda: resnets.resnet(34, use_bias=False),
    "resnet50": lambda: resnets.resnet(50, use_bias=True),
    "resnet101": lambda: resnets.resnet(101, use_bias=True),
    "resnet152": lambda: resnets.resnet(152, use_bias=True),
    "plain18": lambda: resnets.plain(18),
    "plain34": lambda: resnets.plain(34),
    **{f"cifar_resnet{d}": (lambda d=d: resnets.cifar_resnet(d)) for d in (20, 32, 44, 56, 110)},
    **{f"cifar_plain{d}": (lambda d=d: resnets.cifar_plain(d)) for d in (20, 32, 44, 56, 110)},
    "resnet50_v2": resnets.resnet50_v2,
    "se_resnet50": resnets.se_resnet50,
    "resnext50_32x4d": resnets.resnext50,
    "wrn_28_10": resnets.wrn_28_10,
    "googlenet": mb.googlenet,
    "inception_v3": mb.inception_v3,
    "densenet121": mb.densenet121,
    "squeezenet1_0": lambda: mb.squeezenet("1.0"),
    "squeezenet1_1": lambda: mb.squeezenet("1.1"),
    "fractalnet_small": mb.fractalnet_small,
    "ssd300_vgg16": detection.ssd300,
    "ssd_small": detection.ssd_small,
    "yolo_small": detection.yolo_small,
    **segmentation_nets.TEMPLATES,
    **rcnn.TEMPLATES,
}

#: Shipped templates written by hand before the generator; build() still knows
#: them so tests can compare (vgg16.json is the lecture's table oracle).
HANDWRITTEN = {
    "vgg16": lambda: inet.vgg("D"),
}


def build(stem: str) -> builder.Project:
    """The project of template ``stem``, freshly generated."""
    return {**TEMPLATES, **HANDWRITTEN}[stem]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="templates to write (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="only compare the files with freshly generated ones")
    args = parser.parse_args(argv)
    stale = []
    for stem in args.names or TEMPLATES:
        project = build(stem)
        path = builder.templates_dir() / f"{stem}.json"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != dumps_project(project):
                stale.append(stem)
            continue
        builder.save(project, path)
        print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if stale:
        print(f"stale templates (run templates/_make/make.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
