"""The runs tab compares runs of different projects (plain-34 against ResNet-34)."""

from __future__ import annotations

import json


def write_run(root, name, project, accuracies):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(
        {"name": project, "training": {"optimizer": {"name": "sgd", "learning_rate": 0.1},
                      "schedule": {"name": "constant"}, "epochs": len(accuracies)},
         "dataset": {"name": "digits"}}))
    events = [{"type": "started", "time": 1.0, "epochs": len(accuracies), "steps_per_epoch": 2}]
    events += [{"type": "epoch", "time": 2.0 + i, "epoch": i + 1, "val_accuracy": a,
                "seconds": 1.0} for i, a in enumerate(accuracies)]
    events.append({"type": "finished", "time": 9.0, "reason": "completed"})
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_all_projects_lists_and_overlays_runs_of_other_networks(qtbot, tmp_path):
    from builder.gui.training.runs import RunsView

    write_run(tmp_path, "plain-34-20261127-000001", "Plain-34", [0.3, 0.4, 0.45])
    write_run(tmp_path, "resnet-34-20261127-000002", "ResNet-34", [0.4, 0.6, 0.7])
    tab = RunsView()
    qtbot.addWidget(tab)
    tab.set_root(tmp_path, "resnet-34")
    assert [r.name for r in tab.runs] == ["resnet-34-20261127-000002"]

    tab.all_projects.setChecked(True)
    assert sorted(r.name for r in tab.runs) == ["plain-34-20261127-000001",
                                                "resnet-34-20261127-000002"]
    tab.metric.setCurrentText("val_accuracy")
    tab.select([r.name for r in tab.runs])
    curves = dict(zip(tab.curve_labels, (ys for _, ys in tab.curve_data())))
    # Same optimizer in both: the legend names the network of each curve.
    assert curves == {"Plain-34: sgd (lr 0.1, constant)": [0.3, 0.4, 0.45],
                      "ResNet-34: sgd (lr 0.1, constant)": [0.4, 0.6, 0.7]}

    tab.all_projects.setChecked(False)  # back to this project's runs
    assert [r.name for r in tab.runs] == ["resnet-34-20261127-000002"]
