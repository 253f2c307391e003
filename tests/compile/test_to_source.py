"""Graph → Python: the script builds the same model, reads as hand-written code."""

import ast
import subprocess
import sys
import textwrap

import pytest

from builder.compile import to_keras, to_source
from builder.core import Graph

from .graphs import add, inception, residual, two_heads, vgg_like
from .oracle import assert_same_models, build_from_source, exec_source

GRAPHS = {"vgg_like": vgg_like, "residual": residual, "inception": inception,
          "two_heads": two_heads}


def body_lines(source: str, function_name: str = "build_model") -> list[str]:
    """The statements of the build function, without the docstring."""
    tree = ast.parse(source)
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)
             and n.name == function_name]
    return [ast.unparse(stmt) for stmt in fn.body[1:]]


@pytest.mark.parametrize("make", GRAPHS.values(), ids=GRAPHS.keys())
def test_script_builds_the_same_model_layer_by_layer(make):
    g = make()
    assert_same_models(to_keras(g), build_from_source(g))


@pytest.mark.parametrize("make", GRAPHS.values(), ids=GRAPHS.keys())
def test_script_is_pep8_shaped(make):
    source = to_source(make())
    lines = source.split("\n")
    assert source.endswith(")\n") and not source.endswith("\n\n")
    assert all(len(line) <= 99 for line in lines), max(lines, key=len)
    assert not [line for line in lines if line != line.rstrip()]
    assert "\t" not in source
    # Two blank lines before every top-level def, class and the __main__ guard.
    for i, line in enumerate(lines):
        if line.startswith(("def ", "class ", "if __name__", "@")) and \
                not lines[i - 1].startswith("#") and not lines[i - 1].startswith("@"):
            assert lines[i - 2:i] == ["", ""], line
    compile(source, "<generated>", "exec")
    assert source.rstrip().endswith(
        'if __name__ == "__main__":\n    build_model().summary()')


def test_chain_reuses_x_and_keeps_only_differing_kwargs():
    lines = body_lines(to_source(vgg_like()))
    assert lines == [
        "inputs = keras.Input(shape=(32, 32, 3), name='input')",
        "x = layers.Conv2D(16, 3, padding='same', activation='relu', "
        "name='block1_conv1')(inputs)",
        "x = layers.Conv2D(16, 3, padding='same', activation='relu', "
        "name='block1_conv2')(x)",
        "x = layers.MaxPooling2D(name='block1_pool')(x)",
        "x = layers.Conv2D(32, 3, padding='same', activation='relu', "
        "name='block2_conv1')(x)",
        "x = layers.Conv2D(32, 3, padding='same', activation='relu', "
        "name='block2_conv2')(x)",
        "x = layers.MaxPooling2D(name='block2_pool')(x)",
        "x = layers.Flatten(name='flatten')(x)",
        "x = layers.Dense(64, activation='relu', name='fc1')(x)",
        "x = layers.Dropout(0.5, name='drop1')(x)",
        "x = layers.Dense(10, activation='softmax', name='predictions')(x)",
        "return keras.Model(inputs=inputs, outputs=x)",
    ]
    # One line per layer, as written by hand.
    source = to_source(vgg_like())
    assert source.count("\n    x = layers.") == 10


def test_branches_get_named_variables():
    lines = body_lines(to_source(residual()))
    assert lines == [
        "inputs = keras.Input(shape=(16, 16, 8), name='input')",
        "x = layers.ZeroPadding2D(name='stem_pad')(inputs)",
        "x = layers.Conv2D(8, 3, name='stem')(x)",
        "stem_relu = layers.ReLU(name='stem_relu')(x)",
        "x = layers.Conv2D(16, 3, strides=2, padding='same', use_bias=False, "
        "name='res_conv_a')(stem_relu)",
        "x = layers.BatchNormalization(name='res_bn_a')(x)",
        "x = layers.Activation('relu', name='res_relu_a')(x)",
        "x = layers.Conv2D(16, 3, padding='same', use_bias=False, name='res_conv_b')(x)",
        "res_bn_b = layers.BatchNormalization(name='res_bn_b')(x)",
        "res_proj = layers.Conv2D(16, 1, strides=2, name='res_proj')(stem_relu)",
        "x = layers.Add(name='res_add')([res_bn_b, res_proj])",
        "x = layers.ReLU(name='res_out')(x)",
        "x = layers.GlobalAveragePooling2D(name='gap')(x)",
        "x = layers.Dense(5, activation='softmax', name='fc')(x)",
        "return keras.Model(inputs=inputs, outputs=x)",
    ]


def test_heads_are_named_and_returned_as_a_list():
    lines = body_lines(to_source(two_heads(), function_name="make", name="two heads"),
                       "make")
    assert lines[-1] == ("return keras.Model(inputs=inputs, outputs=[aux_fc, main_fc], "
                         "name='two_heads')")
    assert "conv2 = layers.Conv2D(" in "\n".join(lines)


def test_several_inputs_and_awkward_labels_make_valid_names():
    g = Graph()
    a = add(g, "Input", params={"shape": [8]}, id="input", name="input")
    b = add(g, "Input", params={"shape": [8]}, id="b", name="2nd input")
    c = add(g, "Dense", a, {"units": 8}, id="c", name="class")
    d = add(g, "Dense", b, {"units": 8}, id="d", name="Layers")
    m = add(g, "Add", [c, d], id="m", name="x")
    add(g, "Output", m, id="out")
    source = to_source(g)
    lines = body_lines(source)
    assert lines[:2] == ["input_ = keras.Input(shape=(8,), name='input')",
                         "t_2nd_input = keras.Input(shape=(8,), name='2nd_input')"]
    assert "class_ = layers.Dense(8, name='class')(input_)" in lines
    assert "layers_ = layers.Dense(8, name='Layers')(t_2nd_input)" in lines
    assert lines[-1] == "return keras.Model(inputs=[input_, t_2nd_input], outputs=x)"
    assert_same_models(to_keras(g), exec_source(source)["build_model"]())


def test_custom_layers_are_inlined_and_the_script_runs_without_builder(tmp_path):
    g = inception()
    source = to_source(g)
    assert "class LocalResponseNormalization(keras.layers.Layer):" in source
    assert "import builder" not in source and "from builder" not in source
    assert "x = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=0.0001, " \
        "beta=0.75, name='norm')(x)" in body_lines(source)
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    # Make `import builder` fail in the child, whatever is installed.
    runner = textwrap.dedent(f"""
        import runpy, sys
        sys.modules["builder"] = None
        runpy.run_path({str(path)!r}, run_name="__main__")
    """)
    result = subprocess.run([sys.executable, "-c", runner], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Total params: {to_keras(g).count_params():,} " in result.stdout


def test_scripts_without_custom_layers_do_not_carry_them():
    assert "class " not in to_source(vgg_like())


def test_bad_function_name_is_refused():
    with pytest.raises(ValueError, match="identifier"):
        to_source(vgg_like(), function_name="build model")


def test_custom_layers_without_source_are_imported_instead(monkeypatch):
    import inspect

    real = inspect.getsource

    def no_source(obj):
        if getattr(obj, "__name__", "") == "LocalResponseNormalization":
            raise OSError("could not get source code")
        return real(obj)

    monkeypatch.setattr(inspect, "getsource", no_source)
    g = inception()
    source = to_source(g)
    assert "class LocalResponseNormalization" not in source
    assert "\nfrom builder.compile.custom_layers import LocalResponseNormalization\n" in source
    assert_same_models(to_keras(g), exec_source(source)["build_model"]())


def test_kinds_that_add_no_layer_pass_their_input_on():
    from builder.blocks import CATALOG, BlockSpec, Catalog

    identity = BlockSpec(kind="Identity", category="Reshape", doc="", params=(),
                         shape=lambda p, ins, notes: [ins[0]], keras=lambda p: [],
                         label=lambda p: "identity")
    g = Graph(Catalog([*CATALOG, identity]))
    x = add(g, "Input", params={"shape": [6]}, id="in")
    x = add(g, "Dense", x, {"units": 4}, id="fc1")
    i = add(g, "Identity", x, id="same")
    y = add(g, "Dense", i, {"units": 3}, id="fc2")
    z = add(g, "Dense", i, {"units": 2}, id="fc3")
    add(g, "Output", add(g, "Concatenate", [y, z], id="cat"), id="out")
    model = to_keras(g)
    assert "same" not in [layer.name for layer in model.layers]
    lines = body_lines(to_source(g))
    assert "fc2 = layers.Dense(3, name='fc2')(fc1)" in lines
    assert "fc3 = layers.Dense(2, name='fc3')(fc1)" in lines
    assert_same_models(model, build_from_source(g))
