"""Every template compiles and runs one training step at a small input size.

The networks are shrunk (Input to the smallest square size they accept, heads to
3 classes) so a step costs little; full-size models are only built elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

import builder

from template_tools import TEMPLATES, output_heads, shrink

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("name", TEMPLATES)
def test_one_training_step_at_a_small_size(name):
    graph = builder.from_template(name).graph
    size = shrink(graph, classes=3)
    model = builder.to_keras(graph)
    heads = output_heads(graph)
    assert len(model.outputs) == len(heads)
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=[h["loss"] for h in heads],
                  loss_weights=[h["loss_weight"] for h in heads],
                  run_eagerly=True)
    rng = np.random.default_rng(0)
    channels = graph.nodes["input_layer"].params["shape"][-1]
    x = rng.random((2, size, size, channels), dtype=np.float32)
    y = np.array([0, 2])
    logs = model.train_on_batch(x, [y] * len(heads), return_dict=True)
    assert np.isfinite(logs["loss"]), logs
    keras.backend.clear_session()
