"""`max_length` is the most tokens of an output, `<end>` not counted.

Each task's model is made never to emit its end token (its output bias
favours one word); its outputs then hold exactly `max_length` tokens, in
the Python decoders and in the SavedModels. The captioner and summarizer
used to give `max_length + 1`.
"""

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from tests.conftest import to_numpy  # noqa: E402
from tests.zoo.tiny_models import tiny_captioner  # noqa: E402
from zoo import length_limit  # noqa: E402
from zoo.captioning.inference import caption_arrays  # noqa: E402
from zoo.captioning.inference import caption_texts  # noqa: E402
from zoo.captioning.inference import reached_length_limit  # noqa: E402
from zoo.summarization.inference import summarize_texts  # noqa: E402
from zoo.summarization.model import Summarizer  # noqa: E402
from zoo.text.word_vocabulary import WordVocabulary  # noqa: E402
from zoo.translation import BahdanauTranslator  # noqa: E402

MAX_LENGTH = 3
FEATURES = np.random.default_rng(0).normal(size=(3, 2, 2, 4))
DOCUMENT = "the dog saw a cat near the dog"


def favour(model, bias_path, token_id):
    """Makes the output layer whose bias is `bias_path` pick `token_id`."""
    (bias,) = [w for w in model.weights if w.path.endswith(bias_path)]
    values = np.zeros(bias.shape, "float32")
    values[token_id] = 1e4
    bias.assign(values)


@pytest.fixture(scope="module")
def captioner():
    keras.utils.set_random_seed(0)
    model = tiny_captioner(max_caption_length=MAX_LENGTH)
    favour(model, "deep_output/output_projection/bias", 4)
    return model


@pytest.fixture(scope="module")
def summarizer():
    keras.utils.set_random_seed(0)
    vocabulary = WordVocabulary.build([DOCUMENT], max_size=50)
    model = Summarizer(
        vocabulary.words,
        embedding_dim=4,
        units=4,
        max_source_length=12,
        max_summary_length=MAX_LENGTH,
    )
    ids = np.zeros((1, 4), "int32")
    model(
        {"source_ids": ids, "extended_ids": ids, "decoder_inputs": ids[:, :2]}
    )
    favour(model, "output_logits/bias", vocabulary.words.index("dog"))
    # p_gen = sigmoid(50): the output is the vocabulary distribution's.
    model.pointer_generator.bias.assign(np.array([50.0], "float32"))
    return model


@pytest.mark.parametrize("beam_width", [1, 2])
def test_captions_hold_max_length_words(captioner, beam_width):
    outputs = caption_arrays(captioner, FEATURES, beam_width=beam_width)
    captions = caption_texts(captioner, outputs["sequences"])
    assert captions == ["dog dog dog"] * len(FEATURES)
    assert reached_length_limit(outputs["sequences"]).all()
    np.testing.assert_array_equal(outputs["lengths"], MAX_LENGTH)


def test_a_given_caption_limit_holds_too(captioner):
    results = captioner.caption_ids(
        FEATURES.astype("float32"), max_length=5, beam_width=2
    )
    sequences = to_numpy(results["sequences"])
    assert caption_texts(captioner, sequences) == ["dog dog dog dog dog"] * 3
    # The position after the limit holds no word, and no attention.
    np.testing.assert_array_equal(sequences[:, 5], 0)
    np.testing.assert_array_equal(to_numpy(results["attention"])[:, 5], 0)


@pytest.mark.parametrize("beam_width", [1, 2])
def test_summaries_hold_max_length_tokens(summarizer, beam_width):
    (summary,) = summarize_texts(summarizer, [DOCUMENT], beam_width=beam_width)
    assert summary["summary"] == "dog dog dog"
    # No "<end>": the summary was cut.
    assert summary["tokens"] == ["dog"] * MAX_LENGTH
    assert summary["attention"].shape[0] == MAX_LENGTH


@pytest.mark.parametrize("beam_width", [1, 2])
def test_translations_hold_max_length_tokens(beam_width):
    keras.utils.set_random_seed(0)
    model = BahdanauTranslator(8, 8, embedding_dim=4, units=4)
    source = np.array([[3, 4, 5, 0]], "int32")
    model((source, source[:, :2]))
    favour(model, "output_projection/bias", 6)
    results = model.translate_ids(
        source, 1, 2, max_length=MAX_LENGTH, beam_width=beam_width
    )
    np.testing.assert_array_equal(to_numpy(results["sequences"]), [[6] * 3])


def test_exported_captioner_holds_max_length_words(captioner, tmp_path):
    import tensorflow as tf

    from zoo.captioning.export import export_captioner

    if keras.backend.backend() != "tensorflow":
        pytest.skip("exports need the TensorFlow backend")
    path = export_captioner(captioner, tmp_path / "captioner")
    serve = tf.saved_model.load(path).signatures["serving_default"]
    outputs = serve(tf.constant(FEATURES, tf.float32))
    assert [c.decode() for c in outputs["caption"].numpy()] == (
        ["dog dog dog"] * 3
    )
    np.testing.assert_array_equal(outputs["token_ids"].numpy()[:, -1], 0)
    np.testing.assert_array_equal(outputs["lengths"].numpy(), MAX_LENGTH)


def test_exported_summarizer_holds_max_length_tokens(summarizer, tmp_path):
    import tensorflow as tf

    from zoo.summarization.export import export_summarizer

    if keras.backend.backend() != "tensorflow":
        pytest.skip("exports need the TensorFlow backend")
    path = export_summarizer(summarizer, tmp_path / "summarizer", max_length=2)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    outputs = serve(tf.constant([DOCUMENT]))
    assert outputs["summary"].numpy()[0].decode() == "dog dog"
    np.testing.assert_array_equal(outputs["token_ids"].numpy()[:, -1], 0)


def fake_decoder(sequences, lengths):
    """`decode(steps)` returning fixed results of `steps` steps."""

    def decode(steps):
        assert steps == sequences.shape[1]
        return {
            "sequences": keras.ops.convert_to_tensor(sequences, "int32"),
            "lengths": keras.ops.convert_to_tensor(lengths, "int32"),
            "attention": keras.ops.ones(sequences.shape + (2,)),
            "scores": keras.ops.zeros((len(sequences),)),
        }

    return decode


def test_decode_within_limit_cuts_only_outputs_that_did_not_end():
    end, pad = 2, 0
    sequences = np.array(
        [
            [5, end, pad, pad],  # ended early
            [5, 6, 7, end],  # ended after max_length tokens
            [5, 6, 7, 8],  # cut
        ]
    )
    decode = fake_decoder(sequences, np.array([2, 4, 4]))
    results = length_limit.decode_within_limit(decode, 3, end, pad)
    np.testing.assert_array_equal(
        to_numpy(results["sequences"]),
        [[5, end, pad, pad], [5, 6, 7, end], [5, 6, 7, pad]],
    )
    np.testing.assert_array_equal(to_numpy(results["lengths"]), [2, 4, 3])
    attention = to_numpy(results["attention"])
    np.testing.assert_array_equal(attention[:, :3], 1.0)
    np.testing.assert_array_equal(attention[:, 3, 0], [0.0, 1.0, 0.0])
    limited = length_limit.reached_length_limit(
        to_numpy(results["sequences"]), end, pad
    )
    np.testing.assert_array_equal(limited, [False, False, True])


def test_blank_outputs_did_not_reach_the_limit():
    sequences = np.array([[0, 0, 0], [5, 6, 7]])
    limited = length_limit.reached_length_limit(sequences, end_id=2)
    np.testing.assert_array_equal(limited, [False, True])
