"""Export of the captioner as a TensorFlow SavedModel.

The exported function runs the whole captioning in TensorFlow: decoding
the encoded images (JPEG, PNG, GIF, BMP), resizing, the model's encoder,
greedy or beam-search decoding (a `tf.while_loop`) and the words. A server
needs neither `zoo` nor `keras_attention`, only TensorFlow. It answers
item by item, as `caption` does: an image it cannot decode gets `ok=False`
and an empty caption, and the others of the batch are captioned.
"""

import keras

from zoo.captioning.model import FEATURES
from zoo.captioning.vocabulary import END_ID
from zoo.captioning.vocabulary import PAD_ID
from zoo.checks import check_non_negative_float
from zoo.checks import check_positive_int
from zoo.saved_model import check_export_path
from zoo.saved_model import check_tensorflow_backend
from zoo.saved_model import write_archive

ENDPOINT_NAME = "caption"


def export_captioner(
    model, path, beam_width=1, max_length=None, length_penalty=0.0
):
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
      the end token;
    - `"ok"`: bool `[batch]`, whether the item was captioned. An image
      that `decode_image` cannot decode (the files `caption` reports as
      not decoded), or a feature map that `zoo.data.load_features` would
      refuse (a value that is not finite, a squared L2 norm past
      float32's largest value), gets `ok=False`, an empty caption, zero
      ids, lengths and attention; the other items of the batch are
      captioned as if alone.

    Args:
        model: A trained `ShowAttendTell`.
        path: The directory to write to: created, or replaced if it holds
            a SavedModel (written under a temporary name, then renamed).
        beam_width: 1 for greedy decoding, more for beam search.
        max_length: Longest caption in words; default: the model's.
        length_penalty: GNMT alpha of beam search (`caption`'s
            `--length-penalty`); unused by greedy decoding.

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
    length_penalty = check_non_negative_float("length_penalty", length_penalty)
    caption, signature = _caption_function(
        model, beam_width, max_length, length_penalty if beam_width > 1 else 0.0
    )
    archive = keras.export.ExportArchive()
    archive.add_variable_collection("variables", model.variables)
    archive.add_endpoint(ENDPOINT_NAME, caption, input_signature=[signature])
    return write_archive(archive, path)


def _caption_function(model, beam_width, max_length, length_penalty):
    """The exported function and its input signature."""
    import tensorflow as tf

    words = tf.constant(model.vocabulary)
    if model.encoder_name == FEATURES:
        signature = tf.TensorSpec(
            (None,) + tuple(model.feature_shape), tf.float32, name="features"
        )
        to_inputs = _checked_features
    else:
        signature = tf.TensorSpec([None], tf.string, name="images")

        def to_inputs(encoded):
            return _decoded_images(encoded, model.image_size)

    def caption(inputs):
        count = tf.shape(inputs)[0]
        images, ok = to_inputs(inputs)
        # An empty batch decodes one zero image, dropped at the end.
        images = tf.cond(
            count > 0,
            lambda: images,
            lambda: tf.zeros(
                tf.concat([[1], tf.shape(images)[1:]], 0), images.dtype
            ),
        )
        results = model.caption_ids(
            images,
            beam_width=beam_width,
            max_length=max_length,
            length_penalty=length_penalty,
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
        outputs = {
            name: _where_ok(ok, value[:count])
            for name, value in outputs.items()
        }
        return {**outputs, "ok": ok}

    return caption, signature


def _where_ok(ok, value):
    """`value` for the items that are ok, zeros (or "") for the others."""
    import tensorflow as tf

    mask = tf.reshape(
        ok, tf.concat([tf.shape(ok), tf.ones_like(tf.shape(value)[1:])], 0)
    )
    return tf.where(mask, value, tf.zeros_like(value))


def _decoded_images(encoded, image_size):
    """The decoded images `[batch, S, S, 3]` and whether each decoded.

    Each image is decoded by `decode_image`, as `caption` decodes files;
    one that fails (not an image, truncated) is left out by
    `tf.data`'s `ignore_errors` and stays zeros, with `ok=False`.
    """
    import tensorflow as tf

    from zoo.captioning.encoders import decode_image

    count = tf.shape(encoded)[0]
    decoded = tf.data.Dataset.from_tensor_slices(
        (tf.range(count), encoded)
    ).map(lambda index, image: (index, decode_image(image, image_size)))

    def gather(state, item):
        ok, images = state
        index, image = item
        return (
            tf.tensor_scatter_nd_update(ok, [[index]], [True]),
            tf.tensor_scatter_nd_update(images, [[index]], [image]),
        )

    empty = (
        tf.zeros([count], tf.bool),
        tf.zeros([count, image_size, image_size, 3], tf.float32),
    )
    ok, images = decoded.ignore_errors().reduce(empty, gather)
    return images, ok


def _checked_features(features):
    """The feature maps, those `load_features` would refuse zeroed, and
    whether each is ok (finite, squared L2 norm finite in float32)."""
    import tensorflow as tf

    rank = len(features.shape)
    norms = tf.reduce_sum(tf.square(features), axis=list(range(1, rank)))
    ok = tf.math.is_finite(norms)
    return _where_ok(ok, features), ok
