"""`builder summary` lists an SSD's detection heads after its layer table."""

from __future__ import annotations

import subprocess
import sys

import builder


def test_summary_of_ssd300_ends_with_its_default_boxes():
    path = builder.templates_dir() / "ssd300_vgg16.json"
    out = subprocess.run([sys.executable, "-m", "builder", "summary", str(path)],
                         capture_output=True, text=True, check=True).stdout
    tail = out[out.index("Detection heads"):]
    assert "conv4_3_norm" in tail and "38x38" in tail and "1x1" in tail
    assert tail.splitlines()[-2].split()[-1] == "8,732"


def test_summary_of_a_classifier_has_no_detection_part():
    path = builder.templates_dir() / "lenet.json"
    out = subprocess.run([sys.executable, "-m", "builder", "summary", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "Detection heads" not in out
