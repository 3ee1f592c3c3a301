"""The keras-attention model zoo: tasks trained from the command line.

The zoo needs the `zoo` extra (TensorFlow for the data pipelines and export,
tensorflow-text, TensorBoard, Matplotlib, sacreBLEU); it says so at import
instead of failing later with a bare `ModuleNotFoundError`.

`import zoo` imports the built-in tasks (`zoo.tasks.import_tasks`), which
registers their models' classes with Keras: `keras.saving.load_model`
then reads a saved translator, captioner or summarizer. Keras imports no
module of another package to find a class, so without `import zoo` it
cannot.
"""

import importlib.util

_REQUIRED = {
    "tensorflow": "tensorflow",
    "tensorflow_text": "tensorflow-text",
    "matplotlib": "matplotlib",
    "sacrebleu": "sacrebleu",
    "tensorboard": "tensorboard",
}

_missing = [
    package
    for module, package in _REQUIRED.items()
    if importlib.util.find_spec(module) is None
]
if _missing:
    raise ImportError(
        "The keras-attention zoo needs "
        + ", ".join(_missing)
        + ". Install them with `pip install 'keras-attention-zoo[zoo]'`."
    )

# Last: the tasks' modules import this package's submodules.
from zoo.tasks import import_tasks  # noqa: E402

import_tasks()
