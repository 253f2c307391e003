"""Every template without residual stages compiles and trains one step at a
small input size (Input shrunk to the smallest size it accepts, 3 classes)."""

from __future__ import annotations

import math

import pytest

from template_tools import classification_templates, train_one_step

pytest.importorskip("keras")

RESIDUAL = ("resnet", "plain", "cifar_", "se_resnet", "resnext", "wrn")
NAMES = [n for n in classification_templates() if not n.startswith(RESIDUAL)]


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_at_a_small_size(name):
    logs = train_one_step(name)
    assert math.isfinite(logs["loss"]) and logs["loss"] > 0, logs
