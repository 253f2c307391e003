"""templates/vgg16.json against the lecture's VGG-16 table and against Keras."""

import json
import math
import re
import subprocess
import sys

import pytest

import builder
from builder.analysis.summary import short, summarize

ROW = re.compile(r"^\s*(INPUT|CONV3-\d+|POOL2|FC): \[(\d+)x(\d+)x(\d+)\]\s+memory:\s*"
                 r"([\d*]+)(?:=(\S+))?\s+weights:\s*(.+?)\s*$")


def lecture_rows(text):
    rows = []
    for line in text.replace("\\", "").splitlines():
        m = ROW.match(line)
        if m:
            name, h, w, c, formula, abbrev, weights = m.groups()
            weights = int(weights.split("=")[-1].replace(",", "").strip())
            rows.append(dict(name=name, shape=(int(h), int(w), int(c)),
                             memory=math.prod(int(f) for f in formula.split("*")),
                             abbrev=abbrev, weights=weights))
    return rows


@pytest.fixture(scope="module")
def vgg16():
    return builder.from_template("vgg16")


def test_every_row_of_the_lecture_table(lecture_text, vgg16):
    expected = lecture_rows(lecture_text)
    assert len(expected) == 22, "the lecture's VGG-16 table has 22 rows"
    # The lecture has no row for Flatten, which is a view of its input.
    rows = [r for r in summarize(vgg16.graph).rows if r.kind != "Flatten"]
    assert len(rows) == len(expected)
    for ours, theirs in zip(rows, expected):
        h, w, c = theirs["shape"]
        per_sample = ours.output_shape[1:]
        if theirs["name"] == "FC":
            assert per_sample == (c,) and ours.label == f"FC-{c}"
        else:
            assert per_sample == (h, w, c)
            kind = {"INPUT": "Input", "POOL2": "MaxPool2D"}.get(theirs["name"], "Conv2D")
            assert ours.kind == kind
            if kind == "Conv2D":
                assert ours.label == theirs["name"].lower()
        assert ours.activations == theirs["memory"]
        assert ours.weights == theirs["weights"], ours.name
        if theirs["abbrev"]:  # FC rows give the plain number
            assert short(ours.activations) == theirs["abbrev"]


def test_totals_tell_the_truth(lecture_text, vgg16):
    summary = summarize(vgg16.graph)
    # "TOTAL memory: 24M" in the lecture is not the sum of its own rows.
    true_sum = sum(r["memory"] for r in lecture_rows(lecture_text))
    assert summary.activations == true_sum == 15_237_608
    assert summary.forward_bytes == 4 * true_sum
    assert summary.total_params == 138_357_544
    assert "138M" in lecture_text and short(summary.total_params, 3) == "138M"


def test_parameter_count_and_shapes_equal_keras_applications(vgg16):
    keras = pytest.importorskip("keras")
    reference = keras.applications.VGG16(weights=None)
    assert builder.analyze(vgg16.graph).totals.params == reference.count_params()
    analysis = builder.analyze(vgg16.graph)
    for index, layer in enumerate(reference.layers):
        # Keras numbers a second model's input "input_layer_1": match it by place.
        name = "input_layer" if index == 0 else layer.name
        info = analysis.nodes[name]
        assert info.output_shape == tuple(layer.output.shape), layer.name
        assert info.params == layer.count_params(), layer.name


def test_summary_cli_prints_the_table_and_json(tmp_path):
    run = [sys.executable, "-m", "builder", "summary"]
    text = subprocess.run(run + ["vgg16"], capture_output=True, text=True, check=True).stdout
    assert "block1_conv1" in text and "(3*3*3)*64 = 1,728" in text
    assert "224*224*64 = 3.2M" in text
    assert "Total params: 138,357,544" in text
    data = json.loads(subprocess.run(run + ["vgg16", "--json"], capture_output=True,
                                     text=True, check=True).stdout)
    assert data["total_params"] == 138_357_544
    assert data["trainable_params"] == 138_357_544 and data["non_trainable_params"] == 0
    assert data["activations"] == 15_237_608
    assert data["forward_bytes"] == 4 * 15_237_608
    first = data["layers"][1]
    assert {"name", "type", "output_shape", "params", "trainable_params", "flops",
            "activations"} <= set(first)
    assert first["name"] == "block1_conv1" and first["output_shape"] == [None, 224, 224, 64]
    # VGG-16's published cost: 15.5 G multiply-adds per 224x224 image.
    assert round(data["flops"] / 1e9, 1) == 15.5
