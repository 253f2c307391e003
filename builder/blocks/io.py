"""Input and Output: where tensors enter the network and where heads end."""

from __future__ import annotations

from builder.blocks.spec import IN, BlockSpec, Param, ShapeIssue

LOSSES = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "multibox",
    "yolo",
    "none",
)
"""``multibox`` (SSD) and ``yolo`` train a detection head on padded ground truth;
their default boxes / grid come from the graph and ``training["detection"]``
(see :mod:`builder.training.tasks`)."""


def _input_shape(p, ins, notes):
    shape = p["shape"]
    if not isinstance(shape, (list, tuple)) or not shape:
        raise ShapeIssue(
            f"Input needs a shape such as [224, 224, 3]. Received: {shape!r}",
            field="shape")
    return [(None, *shape)]


def _input_label(p) -> str:
    shape = p["shape"]
    if isinstance(shape, (list, tuple)):
        return "input " + "x".join("?" if d is None else str(d) for d in shape)
    return "input"


INPUT = BlockSpec(
    kind="Input",
    category="Input/Output",
    doc="Where images (or vectors) enter the network; the batch dimension is implicit.",
    params=(
        Param("shape", "shape", [224, 224, 3],
              "Per-sample shape, channels last: [height, width, channels] or [features]."),
    ),
    inputs=(),
    shape=_input_shape,
    keras=lambda p: [],  # compiled as keras.Input, not a layer call
    label=_input_label,
)


def _output_shape(p, ins, notes):
    if len(ins) != 1:
        raise ShapeIssue(f"Output expects 1 input. Received: {len(ins)}",
                         fix="Connect the head's last layer to it.")
    return []


OUTPUT = BlockSpec(
    kind="Output",
    category="Input/Output",
    doc="Marks a head of the model: its tensor is a model output, trained with this loss.",
    params=(
        Param("loss", "choice", "sparse_categorical_crossentropy",
              "Loss for this head.", choices=LOSSES),
        Param("loss_weight", "float", 1.0,
              "Weight of this head's loss in the total (GoogLeNet's auxiliary heads use 0.3).",
              min=0.0),
        Param("metrics", "str_list", ["accuracy"], "Metrics reported for this head."),
    ),
    inputs=IN,
    outputs=(),
    shape=_output_shape,
    keras=lambda p: [],  # the incoming tensor itself becomes a model output
    label=lambda p: "output",
    activations=lambda p, ins, outs: 0,
)

SPECS = (INPUT, OUTPUT)
