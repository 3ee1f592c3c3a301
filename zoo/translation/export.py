"""Export of the zoo's translation models as TensorFlow SavedModels.

The exported function runs the whole translation in TensorFlow: Unicode
normalization and WordPiece tokenization (TensorFlow Text), encoding,
greedy or beam-search decoding (a `tf.while_loop`) and detokenization. A
server then needs neither `zoo` nor `keras_attention`, only TensorFlow and
`import tensorflow_text` (which registers the tokenizer's ops).
"""

import keras

from zoo.checks import check_positive_int
from zoo.saved_model import check_export_path
from zoo.saved_model import check_tensorflow_backend
from zoo.saved_model import served_texts
from zoo.saved_model import write_archive

ENDPOINT_NAME = "translate"


def export_saved_model(
    model, path, beam_width=1, max_length=None, source_length=None
):
    """Writes a SavedModel that translates raw strings with `model`.

    The SavedModel has two signatures, `"serving_default"` and
    `"translate"`, taking a 1-D `tf.string` tensor of source sentences
    (any batch size, empty strings allowed; another shape is refused with
    an error naming `texts`) and returning a dict:

    - `"translation"`: `tf.string` `[batch]`, the detokenized outputs, the
      same as `model.translate(texts, beam_width, max_length)` (with the
      default `source_length`).
    - `"token_ids"`: `int32` `[batch, max_length]`, the generated target ids
      (the `[END]` token included) padded with 0.
    - `"lengths"`: `int32` `[batch]`, the number of generated ids,
      `[END]` included.
    - `"attention"` (when the model's `decode_step` returns attention, as
      every zoo model's does): `float32`, the attention of every output
      step on the source tokens, zero after `[END]`: `[batch, max_length,
      source_length]` for the recurrent translators, `[batch, heads,
      max_length, source_length]` for the Transformer (its last decoder
      layer's cross-attention). The same as
      `model.translate_ids(...)["attention"]`. Source position `i` is the
      `i`-th WordPiece token of the normalized source.

    A source that is not valid UTF-8 translates to `""`, as an empty one
    does (the text policy of `zoo.inputs`; `model.translate` refuses it).

    Sources are tokenized as in `model.translate`: padded to, and
    truncated at, `source_length` tokens (silently: the tokenizer's
    truncation warning is a Python callback a SavedModel cannot hold).

    Args:
        model: A `zoo.translation.Seq2Seq` model built with its tokenizers
            (as `zoo.translation.training.train_translation` saves them).
        path: The directory to write the SavedModel to: created, or
            replaced if it holds a SavedModel. The SavedModel is written
            next to it under a temporary name and renamed into place, so an
            interrupted export leaves the previous one whole.
        beam_width: 1 for greedy decoding, more for beam search.
        max_length: Longest translation in tokens; defaults to the model's
            `max_decode_length`.
        source_length: Source tokens the exported function keeps; defaults
            to the source tokenizer's `sequence_length`, and must be given
            when that is `None` (decoding needs a static source length).

    Returns:
        The path written, as a string.

    Example:

    >>> export_saved_model(model, "exported/dates")  # doctest: +SKIP
    >>> # In a process without `zoo`:
    >>> import tensorflow as tf  # doctest: +SKIP
    >>> import tensorflow_text  # doctest: +SKIP
    >>> translate = tf.saved_model.load("exported/dates").signatures[
    ...     "serving_default"]  # doctest: +SKIP
    >>> translate(tf.constant(["9 may 2018"]))["translation"]  # doctest: +SKIP
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'2018-05-09'], ...)>
    """
    check_tensorflow_backend("export_saved_model")
    _check_model(model)
    beam_width = check_positive_int("beam_width", beam_width)
    if max_length is not None:
        max_length = check_positive_int("max_length", max_length)
    source_length = _source_length(model, source_length)
    path = check_export_path(path)

    import tensorflow as tf

    translate = _translate_function(
        model, beam_width, max_length, source_length
    )

    archive = keras.export.ExportArchive()
    # `archive.track(model)` would also walk the model for lookup tables,
    # tracing its default Keras signature (teacher forcing on float inputs)
    # on the way; the model holds no such table, so only its variables are
    # recorded, under the names `track` gives them.
    archive.add_variable_collection("variables", model.variables)
    archive.add_variable_collection(
        "trainable_variables", model.trainable_variables
    )
    archive.add_variable_collection(
        "non_trainable_variables", model.non_trainable_variables
    )
    archive.add_endpoint(
        ENDPOINT_NAME,
        translate,
        input_signature=[tf.TensorSpec([None], tf.string, name="texts")],
    )
    return write_archive(archive, path)


def _check_model(model):
    source_tokenizer = getattr(model, "source_tokenizer", None)
    target_tokenizer = getattr(model, "target_tokenizer", None)
    if source_tokenizer is None or target_tokenizer is None:
        raise ValueError(
            "`model` must carry its tokenizers (`source_tokenizer` and "
            "`target_tokenizer`) to be exported for raw strings. Received: "
            f"a {type(model).__name__} with source_tokenizer="
            f"{type(source_tokenizer).__name__}, target_tokenizer="
            f"{type(target_tokenizer).__name__}"
        )


def _source_length(model, source_length):
    if source_length is None:
        source_length = model.source_tokenizer.sequence_length
        if source_length is None:
            raise ValueError(
                "`source_length` must be given when the source tokenizer "
                "has no `sequence_length`: decoding needs a static source "
                "length. Received: source_length=None"
            )
    source_length = check_positive_int("source_length", source_length)
    if not model.built:
        raise ValueError(
            "`model` must be built (trained, loaded, or called once) before "
            f"export. Received: an unbuilt {type(model).__name__}"
        )
    return source_length


def _translate_function(model, beam_width, max_length, source_length):
    """The exported function: raw strings in, translations out."""
    import tensorflow as tf

    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer

    def translate(texts):
        texts = served_texts(texts)
        num_texts = tf.shape(texts)[0]
        # An empty batch decodes one empty sentence, dropped at the end: a
        # step function may read its state's first row (the Transformer's
        # position).
        texts = tf.cond(num_texts > 0, lambda: texts, lambda: tf.constant([""]))
        source_ids = source_tokenizer(
            texts,
            sequence_length=source_length,
            add_start=False,
            add_end=False,
            warn_on_truncation=False,
        )
        results = model.translate_ids(
            source_ids,
            target_tokenizer.start_id,
            target_tokenizer.end_id,
            max_length=max_length,
            beam_width=beam_width,
        )
        outputs = {
            "translation": target_tokenizer.detokenize(results["sequences"]),
            "token_ids": results["sequences"],
            "lengths": results["lengths"],
        }
        if "attention" in results:
            outputs["attention"] = results["attention"]
        return {name: value[:num_texts] for name, value in outputs.items()}

    return translate
