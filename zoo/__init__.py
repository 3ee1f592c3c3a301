"""The keras-attention model zoo: tasks trained from the command line.

The zoo needs the `zoo` extra (TensorFlow for the data pipelines and export,
tensorflow-text, TensorBoard, Matplotlib, sacreBLEU); it says so at import
instead of failing later with a bare `ModuleNotFoundError`.
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
