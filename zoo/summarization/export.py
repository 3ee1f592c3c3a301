"""Export of the summarizer as a TensorFlow SavedModel.

The exported function runs the whole summarization in TensorFlow: the
word tokenization and the extended-vocabulary mapping (TensorFlow Text
and lookup tables), the encoder, greedy or beam-search decoding (a
`tf.while_loop`) and the words, copied unknown words included. A server
needs neither `zoo` nor `keras_attention`, only TensorFlow and
`import tensorflow_text`.
"""

import numbers

import keras

from zoo.checks import check_non_negative_float
from zoo.checks import check_positive_int
from zoo.saved_model import check_export_path
from zoo.saved_model import check_tensorflow_backend
from zoo.saved_model import served_texts
from zoo.saved_model import write_archive
from zoo.text.word_vocabulary import END_ID
from zoo.text.word_vocabulary import PAD_ID

ENDPOINT_NAME = "summarize"


def export_summarizer(
    model,
    path,
    beam_width=1,
    max_length=None,
    no_repeat_ngram_size=0,
    length_penalty=0.0,
):
    """Writes a SavedModel that summarizes raw strings with `model`.

    The SavedModel has two signatures, `"serving_default"` and
    `"summarize"`, taking a 1-D `tf.string` tensor of documents (another
    shape is refused with an error naming `documents`) and returning a
    dict:

    - `"summary"`: `tf.string` `[batch]`, the tokens joined by spaces,
      the same as `zoo.summarization.inference.summarize_texts` with the
      same decoding arguments;
    - `"token_ids"`: int32 `[batch, max_length + 1]`, the extended ids (the
      end token included), padded with 0;
    - `"lengths"`: int32 `[batch]`, ids generated, the end token included;
    - `"attention"`: float32 `[batch, max_length + 1, S]`, each token's
      attention over the `S = model.max_source_length` source positions;
    - `"p_gen"`: float32 `[batch, max_length + 1]`, each token's
      probability of generating rather than copying.

    Nothing in, nothing invented: a document without any word (empty or
    blank), or one that is not valid UTF-8 (the text policy of
    `zoo.inputs`), gets the empty summary: `""`, length 0, zero ids,
    attention and `p_gen`.

    Args:
        model: A trained `Summarizer`.
        path: The directory to write to: created, or replaced if it holds
            a SavedModel (written under a temporary name, then renamed).
        beam_width: 1 for greedy decoding, more for beam search.
        max_length: Longest summary in tokens; default: the model's.
        no_repeat_ngram_size: n-gram blocking of the decoder (0: none).
        length_penalty: GNMT alpha of beam search (unused when greedy).

    Returns:
        The path written, as a string.
    """
    check_tensorflow_backend("export_summarizer")
    decoding = _checked_decoding(
        beam_width, max_length, no_repeat_ngram_size, length_penalty
    )
    if not model.built:
        raise ValueError(
            "`model` must be built (trained, loaded, or called once) before "
            f"export. Received: an unbuilt {type(model).__name__}"
        )
    path = check_export_path(path)

    import tensorflow as tf

    summarize = _summarize_function(model, decoding)
    archive = keras.export.ExportArchive()
    # Tracked, so that the SavedModel holds the vocabulary's lookup table.
    archive.track(model.word_vocabulary)
    archive.add_variable_collection("variables", model.variables)
    archive.add_endpoint(
        ENDPOINT_NAME,
        summarize,
        input_signature=[tf.TensorSpec([None], tf.string, name="documents")],
    )
    return write_archive(archive, path)


def _checked_decoding(
    beam_width, max_length, no_repeat_ngram_size, length_penalty
):
    """The keyword arguments of `summary_ids`, checked."""
    beam_width = check_positive_int("beam_width", beam_width)
    if max_length is not None:
        max_length = check_positive_int("max_length", max_length)
    if (
        isinstance(no_repeat_ngram_size, bool)
        or not isinstance(no_repeat_ngram_size, numbers.Integral)
        or no_repeat_ngram_size < 0
    ):
        raise ValueError(
            "`no_repeat_ngram_size` must be an integer >= 0 (0: no "
            f"blocking). Received: no_repeat_ngram_size="
            f"{no_repeat_ngram_size!r}"
        )
    length_penalty = check_non_negative_float("length_penalty", length_penalty)
    return {
        "beam_width": beam_width,
        "max_length": max_length,
        # As `summarize` decodes: greedy search has no length penalty.
        "length_penalty": length_penalty if beam_width > 1 else 0.0,
        "no_repeat_ngram_size": int(no_repeat_ngram_size),
    }


def _summarize_function(model, decoding):
    import tensorflow as tf

    words = tf.constant(model.vocabulary)
    size = model.vocabulary_size

    def summarize(documents):
        documents = served_texts(documents)
        count = tf.shape(documents)[0]
        # An empty batch decodes one placeholder document, dropped below.
        documents = tf.cond(
            count > 0, lambda: documents, lambda: tf.constant(["."])
        )
        encoded = model.word_vocabulary.encode_sources(
            documents, model.max_source_length
        )
        results = _blank_empty_documents(
            model.summary_ids(
                encoded["source_ids"], encoded["extended_ids"], **decoding
            ),
            encoded["source_length"],
        )
        ids = results["sequences"]
        kept = tf.logical_and(
            tf.not_equal(ids, END_ID), tf.not_equal(ids, PAD_ID)
        )
        # Tokens up to the first end token (later ids are padding).
        kept = tf.cast(tf.math.cumprod(tf.cast(kept, tf.int32), axis=1), bool)
        fixed = tf.gather(words, tf.minimum(ids, size - 1))
        copied = tf.gather(
            encoded["oov_words"], tf.maximum(ids - size, 0), batch_dims=1
        )
        tokens = tf.where(ids >= size, copied, fixed)
        texts = tf.strings.reduce_join(
            tf.where(kept, tokens, ""), axis=1, separator=" "
        )
        texts = tf.strings.strip(tf.strings.regex_replace(texts, " +", " "))
        outputs = {
            "summary": texts,
            "token_ids": ids,
            "lengths": results["lengths"],
            "attention": tf.cast(results["attention"], tf.float32),
            "p_gen": tf.cast(results["p_gen"], tf.float32),
        }
        return {name: value[:count] for name, value in outputs.items()}

    return summarize


def _blank_empty_documents(results, source_lengths):
    """Zeros every result of the documents without any token."""
    import tensorflow as tf

    empty = tf.equal(source_lengths, 0)

    def blanked(tensor):
        row_is_empty = tf.reshape(empty, [-1] + [1] * (len(tensor.shape) - 1))
        return tf.where(row_is_empty, tf.zeros_like(tensor), tensor)

    return {name: blanked(value) for name, value in results.items()}
