"""Export of the summarizer as a TensorFlow SavedModel.

The exported function runs the whole summarization in TensorFlow: the
word tokenization and the extended-vocabulary mapping (TensorFlow Text
and lookup tables), the encoder, greedy or beam-search decoding (a
`tf.while_loop`) and the words, copied unknown words included. A server
needs neither `zoo` nor `keras_attention`, only TensorFlow and
`import tensorflow_text`.
"""

import keras

from zoo.checks import check_positive_int
from zoo.saved_model import check_export_path
from zoo.saved_model import check_tensorflow_backend
from zoo.saved_model import write_archive
from zoo.text.word_vocabulary import END_ID
from zoo.text.word_vocabulary import PAD_ID

ENDPOINT_NAME = "summarize"


def export_summarizer(
    model, path, beam_width=1, max_length=None, no_repeat_ngram_size=0
):
    """Writes a SavedModel that summarizes raw strings with `model`.

    The SavedModel has two signatures, `"serving_default"` and
    `"summarize"`, taking a 1-D `tf.string` tensor of documents and
    returning a dict:

    - `"summary"`: `tf.string` `[batch]`, the tokens joined by spaces,
      the same as `zoo.summarization.inference.summarize_texts`;
    - `"token_ids"`: int32 `[batch, max_length + 1]`, the extended ids (the
      end token included), padded with 0;
    - `"lengths"`: int32 `[batch]`, ids generated, the end token included;
    - `"attention"`: float32 `[batch, max_length + 1, S]`, each token's
      attention over the `S = model.max_source_length` source positions;
    - `"p_gen"`: float32 `[batch, max_length + 1]`, each token's
      probability of generating rather than copying.

    Args:
        model: A trained `Summarizer`.
        path: The directory to write to: created, or replaced if it holds
            a SavedModel (written under a temporary name, then renamed).
        beam_width: 1 for greedy decoding, more for beam search.
        max_length: Longest summary in tokens; default: the model's.
        no_repeat_ngram_size: n-gram blocking of the decoder (0: none).

    Returns:
        The path written, as a string.
    """
    check_tensorflow_backend("export_summarizer")
    beam_width = check_positive_int("beam_width", beam_width)
    if max_length is not None:
        max_length = check_positive_int("max_length", max_length)
    if not model.built:
        raise ValueError(
            "`model` must be built (trained, loaded, or called once) before "
            f"export. Received: an unbuilt {type(model).__name__}"
        )
    path = check_export_path(path)

    import tensorflow as tf

    summarize = _summarize_function(
        model, beam_width, max_length, no_repeat_ngram_size
    )
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


def _summarize_function(model, beam_width, max_length, no_repeat_ngram_size):
    import tensorflow as tf

    words = tf.constant(model.vocabulary)
    size = model.vocabulary_size

    def summarize(documents):
        count = tf.shape(documents)[0]
        # An empty batch decodes one placeholder document, dropped below.
        documents = tf.cond(
            count > 0, lambda: documents, lambda: tf.constant(["."])
        )
        encoded = model.word_vocabulary.encode_sources(
            documents, model.max_source_length
        )
        results = model.summary_ids(
            encoded["source_ids"],
            encoded["extended_ids"],
            beam_width=beam_width,
            max_length=max_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
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
