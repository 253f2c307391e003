"""The training config: defaults, one-line errors naming the field, and refusals."""

from __future__ import annotations

import json

import pytest

from builder.core.errors import BuilderError
from builder.training.config import (
    OPTIMIZER_FIELDS,
    OPTIMIZERS,
    SCHEDULE_FIELDS,
    SCHEDULES,
    TrainingConfigError,
    check_training,
    resolve_training,
    validate_training,
)
from builder.training.schedule_preview import schedule_preview, step_parameters


def _fields(config):
    return [p.field for p in validate_training(config)]


def test_empty_config_is_adam_with_a_constant_rate():
    assert validate_training(None) == [] and validate_training({}) == []
    resolved = resolve_training({})
    assert resolved["optimizer"] == {
        "name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-7, "amsgrad": False, "weight_decay": None, "clipnorm": None,
        "clipvalue": None, "global_clipnorm": None}
    assert resolved["schedule"] == {"name": "constant"}


def test_every_default_is_valid_and_json_able():
    for opt in OPTIMIZERS:
        for sched in SCHEDULES:
            training = {"optimizer": {"name": opt}, "schedule": {"name": sched}}
            assert validate_training(training) == [], (opt, sched)
            resolved = resolve_training(training)
            assert json.loads(json.dumps(resolved)) == resolved
            # Writing every resolved key back is still valid (the GUI saves them).
            assert validate_training(resolved) == []
    for table in (OPTIMIZER_FIELDS, SCHEDULE_FIELDS):
        for fields in table.values():
            for field in fields:
                assert field.doc and field.doc[0].isupper(), field.key


@pytest.mark.parametrize("training, field, words", [
    ({"optimizer": {"name": "adamm"}}, "training.optimizer.name",
     "Unknown optimizer 'adamm'. Expected one of: sgd, momentum"),
    ({"schedule": {"name": "linear"}}, "training.schedule.name",
     "Unknown schedule 'linear'"),
    ({"optimizer": {"name": "sgd", "learning_rate": -0.1}},
     "training.optimizer.learning_rate", "Expected learning_rate to be a number > 0. "
     "Received: learning_rate=-0.1"),
    ({"optimizer": {"learning_rate": 0}}, "training.optimizer.learning_rate", "> 0"),
    ({"optimizer": {"learning_rate": "0.1"}}, "training.optimizer.learning_rate",
     "Received: learning_rate='0.1'"),
    ({"optimizer": {"learning_rate": True}}, "training.optimizer.learning_rate",
     "Received: learning_rate=True"),
    ({"optimizer": {"learning_rate": float("nan")}},
     "training.optimizer.learning_rate", "Received: learning_rate=nan"),
    ({"optimizer": {"name": "adam", "beta_1": 1.0}}, "training.optimizer.beta_1",
     "Expected beta_1 to be a number in [0, 1). Received: beta_1=1.0"),
    ({"optimizer": {"name": "adam", "beta1": 0.9}}, "training.optimizer.beta1",
     "Unknown key 'beta1' for optimizer 'adam'. Expected one of: learning_rate, beta_1"),
    ({"optimizer": {"name": "adam", "momentum": 0.9}}, "training.optimizer.momentum",
     "Unknown key 'momentum' for optimizer 'adam'"),
    ({"optimizer": {"name": "rmsprop", "rho": 1.5}}, "training.optimizer.rho",
     "Received: rho=1.5"),
    ({"optimizer": {"name": "rmsprop", "centered": 1}}, "training.optimizer.centered",
     "Expected centered to be true or false"),
    ({"optimizer": {"weight_decay": -1}}, "training.optimizer.weight_decay", ">= 0"),
    ({"optimizer": {"clipnorm": 1.0, "global_clipnorm": 2.0}},
     "training.optimizer.global_clipnorm",
     "Expected at most one of clipnorm, clipvalue, global_clipnorm. "
     "Received: clipnorm=1.0, global_clipnorm=2.0"),
    ({"schedule": {"name": "step", "factor": 1.5}}, "training.schedule.factor",
     "Expected factor to be a number in (0, 1]"),
    ({"schedule": {"name": "plateau", "patience": 2.5}}, "training.schedule.patience",
     "Expected patience to be an integer >= 0"),
    ({"schedule": {"name": "cosine", "patience": 3}}, "training.schedule.patience",
     "Reduce-on-plateau cannot be combined with schedule 'cosine'"),
    ({"schedule": {"name": "cyclical", "mode": "sawtooth"}}, "training.schedule.mode",
     "Expected mode to be one of 'triangular', 'triangular2', 'exp_range'"),
    ({"schedule": {"name": "cyclical", "base_lr": 0.1, "max_lr": 0.01}},
     "training.schedule.base_lr", "Expected base_lr <= max_lr"),
    ({"schedule": {"name": "constant", "k": 0.1}}, "training.schedule.k",
     "Expected one of: no other keys"),
    ({"optimizer": "adam"}, "training.optimizer", "Expected 'optimizer' to be an object"),
])
def test_each_problem_is_one_line_naming_the_field(training, field, words):
    problems = validate_training(training)
    assert [p.field for p in problems] == [field]
    message = str(problems[0])
    assert words in message
    assert message.startswith(f"field '{field}': ") and "\n" not in message
    assert "Received:" in message


def test_check_training_raises_the_first_problem_with_all_of_them():
    training = {"optimizer": {"name": "sgd", "learning_rate": -1, "momentum": 0.9},
                "schedule": {"name": "nope"}}
    with pytest.raises(TrainingConfigError) as info:
        check_training(training)
    assert isinstance(info.value, BuilderError)
    assert [p.field for p in info.value.problems] == [
        "training.optimizer.learning_rate", "training.optimizer.momentum",
        "training.schedule.name"]


def test_other_keys_of_the_training_section_are_left_to_the_run():
    assert validate_training({"epochs": 10, "batch_size": 32, "loss": "mse"}) == []


def test_epoch_settings_become_optimizer_steps():
    p = step_parameters({"schedule": {"name": "cosine", "warmup_epochs": 1.5}}, 20, 10)
    assert (p["warmup_steps"], p["decay_steps"]) == (30, 170)
    p = step_parameters({"schedule": {"name": "step", "every_epochs": 0.01}}, 20)
    assert p["decay_steps"] == 1                    # never zero steps
    p = step_parameters({"schedule": {"name": "cyclical", "step_size_epochs": 2,
                                      "gamma": 0.5}}, 4)
    assert p["step_size"] == 8 and p["gamma"] ** 4 == pytest.approx(0.5)


@pytest.mark.parametrize("args, field", [
    (({}, 0, 5), "steps_per_epoch"),
    (({}, 10, 0), "epochs"),
    (({}, 2.5, 5), "steps_per_epoch"),
    (({"schedule": {"name": "cosine", "warmup_epochs": 5}}, 10, 5),
     "training.schedule.warmup_epochs"),
])
def test_preview_refuses_a_run_it_cannot_draw(args, field):
    with pytest.raises(TrainingConfigError) as info:
        schedule_preview(*args)
    assert info.value.field == field and "Received:" in str(info.value)


def test_cosine_without_decay_epochs_needs_the_run_length():
    with pytest.raises(TrainingConfigError, match="epochs=None"):
        step_parameters({"schedule": {"name": "cosine"}}, 10)
