"""Bad input to the CLI ends in one clear line and a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "builder", *args], capture_output=True,
                          text=True)


def one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_missing_file(tmp_path):
    line = one_line_error(run("summary", str(tmp_path / "nope.json")))
    assert "nope.json" in line


def test_unknown_template():
    line = one_line_error(run("summary", "vgg17"))
    assert "vgg17" in line and "vgg16" in line


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "keras-builder",\n "schema_version": 1,\n oops}')
    line = one_line_error(run("summary", str(path)))
    assert "broken.json" in line and "line 3" in line


def test_bad_param_names_node_and_field(tmp_path, templates_dir):
    doc = json.loads((templates_dir / "vgg16.json").read_text())
    for node in doc["graph"]["nodes"]:
        if node["id"] == "block2_conv1":
            node["params"]["filters"] = "lots"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    line = one_line_error(run("summary", str(path)))
    assert "bad.json" in line and "block2_conv1" in line and "filters" in line


def test_graph_with_errors_prints_what_it_can_and_exits_1(tmp_path, templates_dir):
    doc = json.loads((templates_dir / "vgg16.json").read_text())
    doc["graph"]["nodes"] = [n for n in doc["graph"]["nodes"] if n["id"] != "flatten"]
    doc["graph"]["edges"] = [e for e in doc["graph"]["edges"]
                             if "flatten" not in (e["from"], e["to"])]
    doc["graph"]["edges"].append({"from": "block5_pool", "to": "fc1"})
    del doc["view"]["positions"]["flatten"]
    doc["graph"]["nodes"][1]["params"]["kernel_size"] = 300
    doc["graph"]["nodes"][1]["params"]["padding"] = "valid"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    result = run("summary", str(path))
    assert result.returncode == 1
    assert "block1_conv1" in result.stdout and "error:" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["summary"], ["frobnicate"]])
def test_usage_errors(args):
    result = run(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_a_closed_pipe_is_not_an_error():
    """`builder summary vgg16 | head -1`: the reader leaves early, nothing is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "builder", "summary", "vgg16"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # like head exiting after its first line
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 0
    assert stderr == ""
