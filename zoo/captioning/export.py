"""Export of the captioner as a TensorFlow SavedModel.

The exported function runs the whole captioning in TensorFlow: decoding
the encoded images (JPEG, PNG, GIF, BMP), resizing, the model's encoder,
greedy or beam-search decoding (a `tf.while_loop`) and the words. A server
needs neither `zoo` nor `keras_attention`, only TensorFlow.
"""

import keras

from zoo.captioning.model import FEATURES
from zoo.captioning.vocabulary import END_ID
from zoo.captioning.vocabulary import PAD_ID
from zoo.checks import check_positive_int
from zoo.saved_model import check_export_path
from zoo.saved_model import check_tensorflow_backend
from zoo.saved_model import write_archive

ENDPOINT_NAME = "caption"


def export_captioner(model, path, beam_width=1, max_length=None):
    """Writes a SavedModel that captions encoded images with `model`.

    The SavedModel has two signatures, `"serving_default"` and
    `"caption"`. For a model on images they take a 1-D `tf.string`
    tensor of encoded image files; for a model trained on feature maps,
    float32 feature maps `[batch, h, w, C]`. They return a dict:

    - `"caption"`: `tf.string` `[batch]`, the words joined by spaces;
    - `"token_ids"`: int32 `[batch, max_length + 1]`, the word ids (the end
      token included), padded with 0;
    - `"lengths"`: int32 `[batch]`, ids generated, the end token included;
    - `"attention"`: float32 `[batch, max_length + 1, L]`, each word's
      attention over the L image locations (row-major grid), zero after
      the end token.

    Args:
        model: A trained `ShowAttendTell`.
        path: The directory to write to: created, or replaced if it holds
            a SavedModel (written under a temporary name, then renamed).
        beam_width: 1 for greedy decoding, more for beam search.
        max_length: Longest caption in words; default: the model's.

    Returns:
        The path written, as a string.
    """
    check_tensorflow_backend("export_captioner")
    beam_width = check_positive_int("beam_width", beam_width)
    if max_length is not None:
        max_length = check_positive_int("max_length", max_length)
    if not model.built:
        raise ValueError(
            "`model` must be built (trained, loaded, or called once) before "
            f"export. Received: an unbuilt {type(model).__name__}"
        )
    path = check_export_path(path)
    caption, signature = _caption_function(model, beam_width, max_length)
    archive = keras.export.ExportArchive()
    archive.add_variable_collection("variables", model.variables)
    archive.add_endpoint(ENDPOINT_NAME, caption, input_signature=[signature])
    return write_archive(archive, path)


def _caption_function(model, beam_width, max_length):
    """The exported function and its input signature."""
    import tensorflow as tf

    words = tf.constant(model.vocabulary)
    if model.encoder_name == FEATURES:
        feature_shape = model.feature_shape
        signature = tf.TensorSpec(
            (None,) + tuple(feature_shape), tf.float32, name="features"
        )

        def to_inputs(features):
            return features

    else:
        from zoo.captioning.encoders import decode_image

        signature = tf.TensorSpec([None], tf.string, name="images")

        def to_inputs(encoded):
            return tf.map_fn(
                lambda one: decode_image(one, model.image_size),
                encoded,
                fn_output_signature=tf.TensorSpec(
                    (model.image_size, model.image_size, 3), tf.float32
                ),
            )

    def caption(inputs):
        count = tf.shape(inputs)[0]
        images = to_inputs(inputs)
        # An empty batch decodes one zero image, dropped at the end.
        images = tf.cond(
            count > 0,
            lambda: images,
            lambda: tf.zeros(
                tf.concat([[1], tf.shape(images)[1:]], 0), images.dtype
            ),
        )
        results = model.caption_ids(
            images, beam_width=beam_width, max_length=max_length
        )
        ids = results["sequences"]
        kept = tf.logical_and(
            tf.not_equal(ids, END_ID), tf.not_equal(ids, PAD_ID)
        )
        # Words up to the first end token (later ids are padding).
        kept = tf.cast(tf.math.cumprod(tf.cast(kept, tf.int32), axis=1), bool)
        texts = tf.strings.reduce_join(
            tf.where(kept, tf.gather(words, ids), ""), axis=1, separator=" "
        )
        texts = tf.strings.strip(tf.strings.regex_replace(texts, " +", " "))
        outputs = {
            "caption": texts,
            "token_ids": ids,
            "lengths": results["lengths"],
            "attention": tf.cast(results["attention"], tf.float32),
        }
        return {name: value[:count] for name, value in outputs.items()}

    return caption, signature
