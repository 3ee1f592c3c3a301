"""Executes the tutorial notebooks end to end with a Jupyter kernel."""

import os
import pathlib
import re

import keras
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIALS = REPO_ROOT / "tutorials"
NOTEBOOKS = [
    "01_attention_from_scratch.ipynb",
    "02_attention_layers_in_your_model.ipynb",
    "03_translation_zoo_and_tensorboard.ipynb",
    "04_captioning_and_image_attention.ipynb",
    "05_summarization_copy_and_coverage.ipynb",
]
KERNEL_NAME = "python3"
CELL_TIMEOUT_SECONDS = 300
KERNEL_STARTUP_TIMEOUT_SECONDS = 120
# Tracebacks from the kernel carry terminal colour codes.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason=(
        "the tutorials are executed under the TensorFlow backend only; "
        f"KERAS_BACKEND is {keras.backend.backend()!r}"
    ),
)


@pytest.fixture
def kernel_environment(tmp_path_factory, monkeypatch):
    """Registers a `python3` kernel for this interpreter and sets its env.

    An installed `python3` kernel spec may belong to another interpreter
    (one without keras_attention), so the test registers its own in a
    temporary prefix and puts it first on `JUPYTER_PATH`. The kernel
    inherits this process's environment.
    """
    prefix = tmp_path_factory.mktemp("jupyter_prefix")
    kernelspec.install(kernel_name=KERNEL_NAME, prefix=str(prefix))
    jupyter_path = [str(prefix / "share" / "jupyter")]
    if os.environ.get("JUPYTER_PATH"):
        jupyter_path.append(os.environ["JUPYTER_PATH"])
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(jupyter_path))
    python_path = [str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(python_path))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("TUTORIAL_SMALL", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def read_notebook(name):
    path = TUTORIALS / name
    assert path.is_file(), f"tutorial notebook {path} is missing"
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    notebook = read_notebook(name)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells, f"{name} has no code cells"
    for index, cell in enumerate(code_cells):
        assert cell.outputs == [], f"{name}: code cell {index} has outputs"
        assert cell.execution_count is None, (
            f"{name}: code cell {index} has an execution count"
        )


@tensorflow_only
@pytest.mark.parametrize(
    "name",
    # Each notebook is a group of its own: the two workers run the long
    # ones side by side.
    [
        pytest.param(name, marks=pytest.mark.xdist_group(name))
        for name in NOTEBOOKS
    ],
)
def test_notebook_runs(name, kernel_environment, tmp_path):
    notebook = read_notebook(name)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_SECONDS,
        startup_timeout=KERNEL_STARTUP_TIMEOUT_SECONDS,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        message = ANSI_ESCAPE.sub("", str(error))
        pytest.fail(f"{name} failed:\n{message}", pytrace=False)
    assert list(tmp_path.iterdir()) == [], (
        f"{name} left files in its working directory: "
        f"{sorted(p.name for p in tmp_path.iterdir())}"
    )
