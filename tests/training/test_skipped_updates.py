"""Epochs whose updates the optimizer skipped still count as whole epochs.

Under mixed precision Keras wraps the optimizer in a LossScaleOptimizer, which
skips the update of a step whose scaled gradients overflow; its
``iterations`` then lags the batches run. A run must still report each epoch
and write its checkpoints (found on a GPU: a mixed-precision ResNet-50 run
sent no epoch event at all). An initial loss scale of 3e38 and large inputs make every
gradient overflow here, on the CPU, in float32.
"""

from __future__ import annotations

import threading

import keras
import numpy as np

from builder.training.callbacks import EventCallback, RunCheckpoints


def test_epochs_and_checkpoints_when_every_update_is_skipped(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1),
                                                    initial_scale=3e38)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = 1e3 * np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 3
    sent = []
    events = EventCallback(sent.append, threading.Event(), steps_per_epoch=4,
                           batch_events_per_second=0)
    checkpoints = RunCheckpoints(tmp_path, sent.append, "loss", progress=events)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[events, checkpoints])

    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) < 8  # skipped
    epochs = [e for e in sent if e["type"] == "epoch"]
    assert [(e["epoch"], e["step"]) for e in epochs] == [(1, 4), (2, 8)]
    assert [e["epoch"] for e in checkpoints.history] == [1, 2]
    assert (tmp_path / "last.keras").exists()
