"""Export of the zoo's translation models as TensorFlow SavedModels.

The exported function runs the whole translation in TensorFlow: Unicode
normalization and WordPiece tokenization (TensorFlow Text), encoding,
greedy or beam-search decoding (a `tf.while_loop`) and detokenization. A
server then needs neither `zoo` nor `keras_attention`, only TensorFlow and
`import tensorflow_text` (which registers the tokenizer's ops).
"""

import os
import pathlib
import shutil
import tempfile

import keras

ENDPOINT_NAME = "translate"


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )
    return value


def export_saved_model(
    model, path, beam_width=1, max_length=None, source_length=None
):
    """Writes a SavedModel that translates raw strings with `model`.

    The SavedModel has two signatures, `"serving_default"` and
    `"translate"`, taking a 1-D `tf.string` tensor of source sentences
    (any batch size, empty strings allowed) and returning a dict:

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
    _check_backend()
    _check_model(model)
    beam_width = _check_positive_int("beam_width", beam_width)
    if max_length is not None:
        max_length = _check_positive_int("max_length", max_length)
    source_length = _source_length(model, source_length)
    path = _check_export_path(path)

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


def write_archive(archive, path):
    """Writes a `keras.export.ExportArchive` to `path` as one step.

    The SavedModel is written next to `path` under a temporary name and
    renamed into place, so an interrupted export leaves the previous one
    whole.

    Returns:
        The path written, as a string.
    """
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)
    )
    try:
        archive.write_out(str(staging), verbose=False)
        _replace_directory(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(path)


def _check_backend():
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            "`export_saved_model` needs the TensorFlow backend (the "
            "tokenizers and the SavedModel are TensorFlow). Set "
            f"KERAS_BACKEND=tensorflow. Received: backend={backend}"
        )


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
    source_length = _check_positive_int("source_length", source_length)
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


def _check_export_path(path):
    """Refuses a path that is a file, a non-SavedModel folder or read-only."""
    path = pathlib.Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(
            "`path` must be a directory to write the SavedModel to. "
            f"Received: path={str(path)!r}, which is a file"
        )
    if (
        path.is_dir()
        and any(path.iterdir())
        and not (path / "saved_model.pb").exists()
    ):
        raise ValueError(
            "`path` holds files that are not a SavedModel; refusing to "
            f"replace them. Received: path={str(path)!r}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot create the folder of `path`: {error.strerror}. "
            f"Received: path={str(path)!r}"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise ValueError(
            "`path` is in a folder that is not writable. Received: "
            f"path={str(path)!r}"
        )
    return path


def _replace_directory(new, path):
    """Renames `new` to `path`, replacing what was there as one step."""
    if not path.exists():
        new.rename(path)
        return
    # Directories cannot be swapped with one rename; the old SavedModel is
    # moved aside first and deleted only once the new one is in place.
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    new.rename(path)
    shutil.rmtree(old, ignore_errors=True)
