"""The ``builder`` command: the GUI, and the same work headless.

Every failure the user can cause ends in one line on stderr and a non-zero exit
status; ``--debug`` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

EXIT_USAGE = 2
EXIT_INVALID_GRAPH = 1
EXIT_BUG = 3


def _open(source: str):
    """A project from a file path, or from a template name such as ``vgg16``."""
    import builder

    path = Path(source)
    if path.suffix == "" and not path.exists():
        return builder.from_template(source)
    return builder.load(path)


def cmd_summary(args: argparse.Namespace) -> int:
    """Prints the layer table of a project (or its JSON with ``--json``)."""
    from builder.analysis import analyze
    from builder.analysis.summary import format_table, summarize

    project = _open(args.project)
    analysis = analyze(project.graph)
    summary = summarize(project.graph, analysis, bytes_per_element=args.bytes)
    if args.json:
        json.dump(summary.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        title = project.name or Path(args.project).stem
        print(f"{title}\n")
        print(format_table(summary))
        from builder.detection.summary import detection_summary
        heads = detection_summary(project.graph, analysis)
        if heads:
            print("\n" + heads)
    return 0 if analysis.ok else EXIT_INVALID_GRAPH


def cmd_templates(args: argparse.Namespace) -> int:
    """Lists the shipped templates with their input size and parameter count."""
    import builder
    from builder.analysis import analyze

    for path in sorted(builder.templates_dir().glob("*.json")):
        project = builder.load(path)
        totals = analyze(project.graph).totals
        inputs = [n.params.get("shape") for n in project.graph.nodes.values()
                  if n.kind == "Input"]
        size = ", ".join("x".join(str(d) for d in s) for s in inputs if s)
        print(f"{path.stem:<22} {totals.params:>14,} params  input {size:<12} "
              f"{project.name}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Saves the architecture of a .keras model as a project file."""
    from builder.compile.import_command import run_import

    print(run_import(args.model, args.output, verify=not args.no_verify, force=args.force))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Trains a project in a child process, with a progress bar (or resumes a run)."""
    from builder.training.cli_commands import train

    return train(args, _open)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Prints a run's validation metrics."""
    from builder.training.cli_commands import evaluate

    return evaluate(args)


def cmd_export(args: argparse.Namespace) -> int:
    """Exports a run's (or a project's) model and verifies the artefact."""
    from builder.training.cli_commands import export

    return export(args)


def cmd_lr_find(args: argparse.Namespace) -> int:
    """Runs the learning-rate range test and prints the suggestion."""
    from builder.training.cli_commands import lr_find_command

    return lr_find_command(args, _open)


def cmd_predict(args: argparse.Namespace) -> int:
    """Draws a run's predictions on image files (and/or prints them as JSON)."""
    from builder.training.predict import predict_command

    return predict_command(args)


def cmd_gui(args: argparse.Namespace) -> int:
    """Opens the desktop builder."""
    try:
        from builder.gui.app import run  # noqa: PLC0415 - Qt only when asked for
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("builder.gui"):
            print("builder: the desktop window is not part of this version yet; "
                  "use 'builder summary PROJECT' (try: builder summary vgg16).",
                  file=sys.stderr)
            return EXIT_USAGE
        raise
    return run(args.project, getattr(args, "screenshot", None))


def cmd_render(args: argparse.Namespace) -> int:
    """Draws a project's graph as the canvas does, into a PNG or SVG file."""
    from builder.gui.document import Document  # noqa: PLC0415 - Qt only when asked for
    from builder.gui.render import render

    render(Document(_open(args.project)), args.output)
    print(args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``builder`` command."""
    parser = argparse.ArgumentParser(
        prog="builder",
        description="Keras Builder: draw, analyse, compile and train convolutional networks.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="open the desktop builder (the default)")
    gui.add_argument("project", nargs="?", help="project file or template name")
    gui.add_argument("--screenshot", metavar="PNG",
                     help="open, draw, save a screenshot of the window and quit")
    gui.set_defaults(func=cmd_gui)

    render = sub.add_parser("render", help="draw the graph as the canvas does (png/svg)")
    render.add_argument("project", help="project file (.json) or template name")
    render.add_argument("-o", "--output", required=True, help="diagram.png or diagram.svg")
    render.set_defaults(func=cmd_render)

    summary = sub.add_parser(
        "summary", help="print the layer table: shapes, memory, weights, FLOPs")
    summary.add_argument("project", help="project file (.json) or template name (vgg16)")
    summary.add_argument("--json", action="store_true", help="machine-readable output")
    summary.add_argument("--bytes", type=int, default=4, choices=(1, 2, 4, 8),
                         help="bytes per activation for the memory figures (default 4)")
    summary.set_defaults(func=cmd_summary)

    templates = sub.add_parser("templates", help="list the shipped templates")
    templates.set_defaults(func=cmd_templates)

    imports = sub.add_parser(
        "import", help="turn a .keras model into a project (architecture only)")
    imports.add_argument("model", help="the .keras file")
    imports.add_argument("-o", "--output", help="project file to write "
                         "(default: the model's name with .json)")
    imports.add_argument("--force", action="store_true", help="overwrite the output")
    imports.add_argument("--no-verify", action="store_true",
                         help="convert config.json only, without loading the model in "
                              "Keras to check every layer's shape and parameter count")
    imports.set_defaults(func=cmd_import)

    from builder.training.cli_commands import add_train_arguments

    train = sub.add_parser("train", help="train a project (or --resume a run)")
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="a run's metrics on its validation split")
    evaluate.add_argument("run", help="run directory")
    evaluate.add_argument("--model", choices=("best", "last"), default="best")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.set_defaults(func=cmd_evaluate)

    export = sub.add_parser("export", help="export a run's or a project's model, verified")
    export.add_argument("source", help="run directory, project file or template name")
    export.add_argument("--format", required=True,
                        choices=("keras", "savedmodel", "onnx", "tflite", "python"))
    export.add_argument("-o", "--output", required=True, help="file or folder to write")
    export.set_defaults(func=cmd_export)

    lr_find = sub.add_parser("lr-find", help="learning-rate range test (Smith 2015)")
    lr_find.add_argument("project", help="project file (.json) or template name")
    lr_find.add_argument("--dataset", help="as for train (default: the project's)")
    lr_find.add_argument("--steps", type=int, default=200, help="batches in the sweep")
    lr_find.add_argument("--min-lr", type=float, default=1e-7)
    lr_find.add_argument("--max-lr", type=float, default=10.0)
    lr_find.add_argument("--batch-size", type=int)
    lr_find.add_argument("--limit", type=int, help="use only the first N samples")
    lr_find.add_argument("--json", action="store_true", help="the whole sweep as JSON")
    lr_find.set_defaults(func=cmd_lr_find)

    from builder.training.predict import add_predict_arguments

    predict = sub.add_parser("predict", help="a run's predictions on images, drawn "
                             "(top-5, class overlay, boxes, masks)")
    add_predict_arguments(predict)
    predict.set_defaults(func=cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    from builder.core.errors import BuilderError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *([] if argv is None else argv)])
    if not getattr(args, "debug", False):
        # TensorFlow's C++ start-up lines (CPU features, "failed call to cuInit" on a
        # machine without a GPU) are noise under a command's own one-line messages;
        # a TF_CPP_MIN_LOG_LEVEL the user set wins.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        return args.func(args)
    except BuilderError as exc:
        if args.debug:
            raise
        print(f"builder {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`builder summary x | head`): not an error. Point
        # stdout at devnull so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if args.debug:
            raise
        name = getattr(exc, "filename", None)
        reason = exc.strerror or str(exc)
        print(f"builder {args.command}: cannot read '{name}': {reason}" if name
              else f"builder {args.command}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, with the way to learn more
        if args.debug:
            raise
        print(f"builder {args.command}: internal error: {type(exc).__name__}: {exc} "
              f"(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_BUG
