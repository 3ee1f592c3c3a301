"""What installing and importing `keras_attention` pulls in."""

import importlib.metadata
import json
import os
import subprocess
import sys

import keras
import pytest
from packaging.requirements import Requirement

import keras_attention
from keras_attention._optional import import_optional

OPTIONAL_MODULES = (
    "matplotlib",
    "pycocoevalcap",
    "rouge_score",
    "sacrebleu",
    "tensorflow",
    "tensorflow_text",
    "tensorboard",
)

EXTRAS = ("plot", "text", "caption", "summary", "tensorboard", "zoo", "tests")

_IMPORTED_AFTER = """
import json, sys
before = set(sys.modules)
import keras
after_keras = set(sys.modules)
import keras_attention
after = set(sys.modules)
print(json.dumps({"keras": sorted(after_keras - before),
                  "keras_attention": sorted(after - after_keras)}))
"""


def _new_modules(backend):
    environment = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTED_AFTER],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_library_adds_no_optional_dependency():
    # With JAX, whatever Keras itself imports (it may import Matplotlib) is
    # not ours; the library must not add TensorFlow, Matplotlib or sacreBLEU.
    modules = _new_modules("jax")
    added = {name.split(".")[0] for name in modules["keras_attention"]}
    assert added.isdisjoint(OPTIONAL_MODULES), sorted(
        added & set(OPTIONAL_MODULES)
    )


def test_library_requirements_are_keras_and_numpy_only():
    requirements = [
        Requirement(text)
        for text in importlib.metadata.requires("keras-attention-zoo")
    ]
    core = sorted(r.name for r in requirements if r.marker is None)
    assert core == ["keras", "numpy"]
    extras = {
        extra
        for r in requirements
        if r.marker is not None
        for extra in EXTRAS
        if r.marker.evaluate({"extra": extra})
    }
    assert extras == set(EXTRAS)


def test_installed_keras_is_inside_the_declared_bounds():
    # The upper bound must be a version the suite runs on: CI installs the
    # newest Keras the bound allows, so this fails when the bound and the
    # tested version drift apart.
    (keras_requirement,) = [
        Requirement(text)
        for text in importlib.metadata.requires("keras-attention-zoo")
        if Requirement(text).name == "keras"
    ]
    assert keras_requirement.specifier.contains(keras.__version__)
    assert any(spec.operator == "<" for spec in keras_requirement.specifier)


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    # A `None` entry in `sys.modules` makes the import fail like a missing
    # package does.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError) as info:
        import_optional("matplotlib.figure", "plot_attention")
    message = str(info.value)
    assert "plot_attention needs `matplotlib`" in message
    assert "keras-attention-zoo[plot]" in message


def test_plot_attention_without_matplotlib_says_what_to_install(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"keras-attention-zoo\[plot\]"):
        keras_attention.visualization.plot_attention([[1.0]], ["a"], ["b"])


def test_text_scores_without_sacrebleu_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(ImportError, match=r"keras-attention-zoo\[text\]"):
        keras_attention.metrics.text_scores(["a"], ["a"])


def test_zoo_without_its_extra_says_what_to_install():
    script = (
        "import importlib.util, sys\n"
        "find_spec = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: (\n"
        "    None if name == 'tensorflow_text' else find_spec(name, *a))\n"
        "import zoo\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=dict(os.environ, KERAS_BACKEND="jax"),
    )
    assert result.returncode != 0
    assert "needs tensorflow-text" in result.stderr
    assert "keras-attention-zoo[zoo]" in result.stderr
