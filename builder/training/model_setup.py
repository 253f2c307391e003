"""Turning a project into a model ready to ``fit``: losses, precision, devices.

The loss and metrics of each head come from its Output node. A cross-entropy
head whose last layer has no softmax is trained on logits
(``from_logits=True``), which is what Keras recommends for numerical safety.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import keras

from builder.core.graph import Graph
from builder.training.errors import TrainingError

_CROSSENTROPY = {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
                 "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                 "binary_crossentropy": keras.losses.BinaryCrossentropy}


def output_heads(graph: Graph) -> list[dict[str, Any]]:
    """The params of the Output nodes, in node order (the model's output order)."""
    return [dict(n.params) for n in graph.nodes.values() if n.kind == "Output"]


def _ends_in_probabilities(tensor: Any) -> bool:
    layer = tensor._keras_history.operation
    config = layer.get_config()
    activation = config.get("activation")
    if isinstance(layer, keras.layers.Softmax):
        return True
    return activation in ("softmax", "sigmoid")


def compile_args(graph: Graph, model: keras.Model) -> dict[str, Any]:
    """``loss``, ``loss_weights`` and ``metrics`` for ``model.compile``."""
    heads = output_heads(graph) or [{"loss": "sparse_categorical_crossentropy",
                                     "loss_weight": 1.0, "metrics": ["accuracy"]}]
    outputs = model.outputs
    if len(heads) != len(outputs):
        raise TrainingError(f"The model has {len(outputs)} outputs but the graph "
                            f"{len(heads)} Output nodes. Received: {model.output_names}")
    losses, weights, metrics = [], [], []
    for head, tensor in zip(heads, outputs):
        name = head.get("loss", "sparse_categorical_crossentropy")
        if name in ("multibox", "yolo"):
            raise TrainingError(
                f"The '{name}' loss is built from the graph's detection head and the "
                "dataset's classes by the detection task of builder train "
                f"(builder.training.tasks.detector_for). Received: loss={name!r}")
        if name in _CROSSENTROPY:
            losses.append(_CROSSENTROPY[name](
                from_logits=not _ends_in_probabilities(tensor)))
        else:
            losses.append(name)
        weights.append(float(head.get("loss_weight", 1.0)))
        metrics.append([_metric(m, tensor) for m in head.get("metrics") or []])
    if len(outputs) == 1:
        return {"loss": losses[0], "metrics": metrics[0]}
    return {"loss": losses, "loss_weights": weights, "metrics": metrics}


def _metric(name: str, tensor: Any) -> Any:
    """A metric for ``model.compile``: Keras' own name, or ``"mean_iou"``, which
    Keras knows only with the number of classes (the head's last axis)."""
    if name != "mean_iou":
        return name
    return keras.metrics.MeanIoU(num_classes=int(tensor.shape[-1]), sparse_y_true=True,
                                 sparse_y_pred=False, name="mean_iou")


def head_targets(y: Any, heads: int, task: str | None = None) -> Any:
    """The training targets of each head: the same labels for every head
    (GoogLeNet's auxiliary classifiers), except for ``localization`` targets
    ``[class, y1, x1, y2, x2]``, which a class head and a box head share out."""
    if task == "localization":
        if heads != 2:
            raise TrainingError("Localization trains a model with two heads (class, "
                                f"box), in that order. Received: {heads} output(s)")
        return [y[:, 0].astype("int32"), y[:, 1:]]
    return y if heads == 1 else [y] * heads


def check_classes(model: keras.Model, num_classes: int, dataset: str,
                  losses: list[str] | None = None) -> None:
    """Refuses a classifier head whose width differs from the dataset's classes.

    ``losses`` (one per output) limits the check to cross-entropy heads, so a
    box-regression head of 4 numbers is not taken for a classifier."""
    for i, tensor in enumerate(model.outputs):
        if losses and i < len(losses) and losses[i] not in _CROSSENTROPY:
            continue
        width = tensor.shape[-1]
        if width is not None and width != num_classes and len(tensor.shape) == 2:
            raise TrainingError(
                f"Dataset '{dataset}' has {num_classes} classes but the model's output "
                f"'{tensor._keras_history.operation.name}' has {width} units. Set the "
                f"last Dense layer's units to {num_classes}. Received: output shape "
                f"{tuple(tensor.shape)}")


def gpu_count() -> int:
    """GPUs visible to the current Keras backend."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415

            return len(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax  # noqa: PLC0415

            return sum(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch  # noqa: PLC0415

            return torch.cuda.device_count()
    except Exception:  # a broken driver is "no GPU", not a crash
        return 0
    return 0


def device_name(device: str) -> str | None:
    """The ``keras.device`` name for a run's ``device`` setting (None: Keras' choice)."""
    if device == "auto":
        return None
    if device in ("cpu", "gpu"):
        return f"{device}:0"
    return device


def set_precision(mixed: bool) -> None:
    """Sets Keras' global dtype policy; mixed precision only where a GPU is."""
    if mixed and gpu_count() == 0:
        raise TrainingError("Mixed precision needs a GPU and none is visible here. "
                            "Received: mixed_precision=true")
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")


def last_layers_float32(model: keras.Model) -> keras.Model:
    """A copy of ``model`` whose output layers compute in float32.

    Under mixed precision a softmax in float16 loses the small probabilities
    the loss needs; Keras' guide keeps the last layer in float32.
    """
    last = {t._keras_history.operation.name for t in model.outputs}

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if layer.name in last:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def start_processes() -> tuple[int, int]:
    """Joins the processes of a multi-process run; ``(process_id, num_processes)``.

    Keras' JAX multi-process distribution reads the coordinator's address, the
    number of processes and this process' id from ``KERAS_DISTRIBUTION_*``
    environment variables (the launcher sets them), and must start before JAX
    computes anything.
    """
    if keras.backend.backend() != "jax":
        raise TrainingError("Multi-process training runs on the JAX backend. "
                            f"Received: backend={keras.backend.backend()!r}")
    keras.distribution.initialize()
    import jax  # noqa: PLC0415

    return jax.process_index(), jax.process_count()


def shard_for_process(x: Any, y: Any, process_id: int, processes: int) -> tuple[Any, Any]:
    """This process' share of the data: every ``processes``-th sample, the same
    number on each process (so every step has a batch everywhere)."""
    size = len(x) // processes * processes
    return x[process_id:size:processes], y[process_id:size:processes]


@contextlib.contextmanager
def distribution_scope(kind: str) -> Iterator[str]:
    """Builds the model under the distribution a run asks for; yields its name.

    ``auto`` chooses ``MirroredStrategy`` (TensorFlow) or ``DataParallel``
    (JAX) when more than one GPU is visible, else none.
    """
    backend = keras.backend.backend()
    gpus = gpu_count()
    if kind == "auto":
        kind = "none" if gpus < 2 else ("mirrored" if backend == "tensorflow"
                                       else "data_parallel")
    if kind == "mirrored":
        if backend != "tensorflow":
            raise TrainingError("MirroredStrategy needs the TensorFlow backend. "
                                f"Received: backend={backend!r}")
        import tensorflow as tf  # noqa: PLC0415

        with tf.distribute.MirroredStrategy().scope():
            yield "mirrored"
        return
    if kind == "multi_process":  # keras.distribution.initialize() has run already
        distribution = keras.distribution.DataParallel()
        # Each process feeds its own shard (see shard_for_process).
        distribution.auto_shard_dataset = False
        keras.distribution.set_distribution(distribution)
        yield "multi_process"
        return
    if kind == "data_parallel":
        if backend != "jax":
            raise TrainingError("keras.distribution.DataParallel needs the JAX backend. "
                                f"Received: backend={backend!r}")
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        yield "data_parallel"
        return
    yield "none"


def training_options() -> dict[str, Any]:
    """What this machine offers a run, for the GUI's choices and the CLI's checks.

    Only importable backends are listed, mixed precision only with a GPU, and
    the distributions that make sense for the current backend and GPU count.
    """
    from builder.training.run_config import available_backends  # noqa: PLC0415

    gpus = gpu_count()
    backend = keras.backend.backend()
    distributions = ["none"]
    if gpus > 1:
        distributions.append("mirrored" if backend == "tensorflow" else "data_parallel")
    if "jax" in available_backends():
        distributions.append("multi_process")
    return {"backends": available_backends(), "backend": backend, "gpus": gpus,
            "devices": ["auto", "cpu"] + [f"gpu:{i}" for i in range(gpus)],
            "mixed_precision": gpus > 0, "jit_compile": ["auto", True, False],
            "distributions": distributions}
