"""Every shipped template is a well-formed project: it loads like a user's file,
analyses without errors, and is exactly what the generator writes."""

from __future__ import annotations

import pytest

import builder
from builder.core.project import dumps_project

from template_tools import TEMPLATES, classification_templates, generator

#: Warnings a template is expected to show: the reference's own arithmetic floors
#: ((224 + 2*3 - 7)/2 + 1 = 112.5 in every ImageNet ResNet/DenseNet stem).
_STEM = {("conv1_conv", "padding"), ("pool1_pool", "padding")}
EXPECTED_WARNINGS = {
    "alexnet_torchvision": {("features_0", "padding")},
    "zfnet": {("conv1", "padding")},
    **{name: _STEM for name in ("resnet18", "resnet34", "resnet50", "resnet101",
                                "resnet152", "plain18", "plain34", "se_resnet50",
                                "resnext50_32x4d")},
    # keras.applications' ResNetV2 strides the last block's padded 3x3 conv: 58 -> 28.
    "resnet50_v2": _STEM | {("conv2", None), ("conv3", None), ("conv4", None)},
    "densenet121": {("conv1_conv", "padding"), ("pool1", "padding")},
    "squeezenet1_1": {("conv1", "padding")},
}


def test_the_issue_s_templates_are_all_shipped_and_generated():
    gen = generator()
    assert set(classification_templates()) <= set(TEMPLATES)
    assert set(classification_templates()) <= set(gen.TEMPLATES) | set(gen.HANDWRITTEN)


@pytest.mark.parametrize("name", TEMPLATES)
def test_loads_and_analyses_cleanly(name):
    project = builder.load(builder.templates_dir() / f"{name}.json")
    assert project.name.strip() and len(project.description) > 60
    analysis = builder.analyze(project.graph)
    assert analysis.errors == [], [str(d) for d in analysis.errors]
    if name in classification_templates():  # other issues' templates test their own
        found = {(d.node, d.field) for d in analysis.diagnostics}
        assert found == EXPECTED_WARNINGS.get(name, set()), \
            [str(d) for d in analysis.diagnostics]
    assert analysis.totals.params > 0


@pytest.mark.parametrize("name", sorted(generator().TEMPLATES))
def test_file_is_what_the_generator_writes(name):  # every generated template, anyone's
    # Regenerating must not change a byte: templates are reproducible data.
    text = (builder.templates_dir() / f"{name}.json").read_text(encoding="utf-8")
    assert text == dumps_project(generator().build(name)), (
        f"templates/{name}.json is stale (a catalogue default or the generator changed): "
        f"run .venv/bin/python templates/_make/make.py and review the diff")


@pytest.mark.parametrize("name", TEMPLATES)
def test_saving_a_template_gives_the_same_graph(name, tmp_path):
    project = builder.from_template(name)
    builder.save(project, tmp_path / "copy.json")
    again = builder.load(tmp_path / "copy.json")
    assert again.graph.to_dict() == project.graph.to_dict()
    assert (again.name, again.description) == (project.name, project.description)


def test_handwritten_vgg16_is_the_generator_s_configuration_d():
    shipped = builder.from_template("vgg16")
    assert shipped.graph.to_dict() == generator().build("vgg16").graph.to_dict()
