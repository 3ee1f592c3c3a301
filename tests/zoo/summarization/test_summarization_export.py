"""The summarization SavedModel answers as `summarize` does, input by input.

`export` takes `summarize`'s decoding flags (one declaration, the same
defaults); the SavedModel gives the command's summary for every
document, beam search with a length penalty included, the empty summary
for a blank document or one that is not UTF-8, and refuses a batch that
is not a 1-D tensor of strings.
"""

import io
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

import keras  # noqa: E402

from tests.conftest import cli_main  # noqa: E402
from tests.zoo.summarization import tiny_summarizer  # noqa: E402
from zoo import cli  # noqa: E402
from zoo.commands import command_of  # noqa: E402
from zoo.summarization import inference  # noqa: E402

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="SavedModel export needs the TensorFlow backend",
)

# A length penalty that picks other beams than none does for this model.
LENGTH_PENALTY = 2.0
BLANKS = ["", "   "]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model, its test texts, and its SavedModel's signature."""
    import tensorflow as tf

    directory = tmp_path_factory.mktemp("summarization_export")
    model_path = directory / "model.keras"
    # The end token made likelier: summaries of several lengths, so that
    # the length penalty matters.
    model, texts = tiny_summarizer.save_tiny_summarizer(
        model_path, epochs=2, end_bias=3.5
    )
    # The command line's export (a module fixture has no `capsys`).
    arguments = ["export", model_path, directory / "saved"]
    arguments += ["--length-penalty", LENGTH_PENALTY]
    assert cli.main([str(argument) for argument in arguments]) == 0
    signature = tf.saved_model.load(str(directory / "saved")).signatures[
        "serving_default"
    ]
    return model, model_path, texts, signature


def test_export_takes_the_decoding_flags_of_summarize():
    def flags(command):
        return {
            option.name: option.default
            for option in command_of(command, "summarization").options
            if option.name != "attention_dir"
        }

    assert flags("export") == flags("summarize")
    assert set(flags("export")) == {
        "beam_width",
        "length_penalty",
        "no_repeat_ngram_size",
        "max_length",
    }


def test_saved_model_summaries_equal_summarize_input_by_input(
    exported, capsys, monkeypatch
):
    import tensorflow as tf

    model, model_path, texts, signature = exported
    documents = texts + BLANKS
    stdin = io.TextIOWrapper(io.BytesIO("\n".join(documents).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    status, output, _ = cli_main(
        capsys, "summarize", model_path, "--length-penalty", LENGTH_PENALTY
    )
    assert status == 0
    expected = output.split("\n")[:-1]
    assert len(expected) == len(documents)
    served = signature(tf.constant(documents))["summary"].numpy()
    assert [summary.decode() for summary in served] == expected
    assert expected[-2:] == BLANKS[:1] * 2
    # The flag matters for this model: without it, other summaries.
    unpenalized = inference.summarize_texts(model, texts, beam_width=4)
    assert [s["summary"] for s in unpenalized] != expected[: len(texts)]


def test_blank_and_non_utf8_documents_get_empty_summaries(exported):
    import tensorflow as tf

    _, _, texts, signature = exported
    not_utf8 = b"\xff\xfe " + texts[0].encode()
    outputs = signature(tf.constant([not_utf8, *BLANKS, texts[0]]))
    assert [s.decode() for s in outputs["summary"].numpy()[:3]] == [""] * 3
    assert outputs["summary"].numpy()[3] != b""
    np.testing.assert_array_equal(outputs["lengths"].numpy()[:3], 0)
    for name in ("token_ids", "attention", "p_gen"):
        assert not np.any(outputs[name].numpy()[:3]), name
    assert outputs["lengths"].numpy()[3] > 0


@pytest.mark.parametrize("shape", ["matrix", "scalar"])
def test_a_batch_that_is_not_1d_is_refused(exported, shape):
    import tensorflow as tf

    _, _, texts, signature = exported
    documents = [texts[:2]] if shape == "matrix" else texts[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="documents"):
        signature(documents=tf.constant(documents))
