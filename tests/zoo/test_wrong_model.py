"""A command given another kind of model names both kinds, from the CLI.

`caption`, `summarize`, `translate`, `evaluate` and `export` say which
kind of model the command needs and which kind MODEL is (its task and
class, or a Keras model of no zoo task), on one error line.
"""

import keras
import pytest

pytest.importorskip("tensorflow")

from tests.conftest import cli_main  # noqa: E402
from tests.zoo.tiny_models import save_tiny_models  # noqa: E402
from zoo.commands import run_command  # noqa: E402

TRAIN = "`keras-attention-zoo train"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    paths = save_tiny_models(directory)
    paths["plain"] = directory / "plain.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(
        paths["plain"]
    )
    return paths


@pytest.mark.parametrize(
    "verb, needs, given, received",
    [
        ("caption", "captioning", "translation", "BahdanauTranslator"),
        ("caption", "captioning", "summarization", "Summarizer"),
        ("summarize", "summarization", "captioning", "ShowAttendTell"),
        ("summarize", "summarization", "transformer", "TransformerTranslator"),
        ("translate", "translation", "summarization", "Summarizer"),
        ("translate", "translation", "captioning", "ShowAttendTell"),
    ],
)
def test_a_verb_names_the_kind_it_needs_and_the_kind_given(
    models, capsys, verb, needs, given, received
):
    path = models[given]
    task = "translation" if given == "transformer" else given
    status, out, error = cli_main(capsys, verb, path, "input")
    assert status == 2
    assert out == ""
    assert error == (
        f"MODEL {path}: `{verb}` needs a {needs} model (from {TRAIN} "
        f"{needs}`), received a {task} model ({received})"
    )


@pytest.mark.parametrize(
    "arguments", [("evaluate",), ("export", "out"), ("caption", "x.png")]
)
def test_a_keras_model_of_no_task_is_named_so(models, capsys, arguments):
    verb, *rest = arguments
    status, _, error = cli_main(capsys, verb, models["plain"], *rest)
    assert status == 2
    needs = (
        "a captioning model (from `keras-attention-zoo train captioning`)"
        if verb == "caption"
        else "a captioning, summarization or translation model (from "
        f"{TRAIN} TASK`)"
    )
    assert error == (
        f"MODEL {models['plain']}: `{verb}` needs {needs}, received a "
        "Sequential, not a zoo model"
    )


def test_run_command_names_the_kinds_too(models):
    with pytest.raises(ValueError) as info:
        run_command("caption", models["summarization"], images=["x.png"])
    assert str(info.value) == (
        f"MODEL {models['summarization']}: `caption` needs a captioning "
        f"model (from {TRAIN} captioning`), received a summarization "
        "model (Summarizer)"
    )
