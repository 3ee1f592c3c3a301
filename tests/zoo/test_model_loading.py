"""Every zoo model loads with `keras.saving.load_model` after `import zoo`.

In a fresh process, as a Keras user loads a model: `import zoo` alone
registers every task's classes (the captioner and summarizer used to be
unknown to Keras, "Could not locate class 'ShowAttendTell'"). The files
are compiled as training compiles them, so the loss, metrics and
learning-rate schedule load too (`compile=True`, Keras's default).
"""

import json

import pytest

pytest.importorskip("tensorflow")

from tests.conftest import run_python  # noqa: E402
from tests.zoo.tiny_models import save_tiny_models  # noqa: E402

LOAD_AFTER_IMPORT_ZOO = """
import json
import sys

import keras

import zoo  # noqa: F401

loaded = {}
for kind, path in json.loads(sys.argv[-1]).items():
    model = keras.saving.load_model(path)
    loaded[kind] = [type(model).__name__, type(model.loss).__name__]
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    paths = save_tiny_models(tmp_path_factory.mktemp("models"))
    return {kind: str(path) for kind, path in paths.items()}


def test_every_task_model_loads_in_a_fresh_process(saved_models):
    script = LOAD_AFTER_IMPORT_ZOO.replace(
        "sys.argv[-1]", repr(json.dumps(saved_models))
    )
    result = run_python(script)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "captioning": ["ShowAttendTell", "NoneType"],
        "summarization": ["Summarizer", "NoneType"],
        "translation": ["BahdanauTranslator", "MaskedSparseCrossentropy"],
        "transformer": ["TransformerTranslator", "MaskedSparseCrossentropy"],
    }
