"""Image encoders of the captioner: `keras.applications` backbones.

Show, Attend and Tell (Xu et al. 2015, section 3.1.1) annotates an image
with the last convolutional feature map of an ImageNet network: each of
the `h * w` positions is one annotation vector `a_i` of size `C`. This
module builds such encoders (`build_backbone`), reads images the way they
expect them (`load_image`, `decode_image`, `image_dataset`) and
precomputes the maps of a dataset once (`cache_features`) into the
`.npz` layout that `zoo.data.load_features` reads, so that a captioner
can train without running the backbone at every step.

Images enter every encoder as raw RGB pixels in 0..255; each backbone's
own `preprocess_input` runs inside the model (`BackbonePreprocessing`), so
a saved encoder takes pixels, as a server decoding image files produces.
"""

import os
import pathlib
import urllib.error
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo.checks import check_positive_int
from zoo.data.captions import CaptionedImage
from zoo.files import write_atomically


def _backbone(constructor, module, image_size):
    return {
        "constructor": constructor,
        "preprocess_input": module.preprocess_input,
        "image_size": image_size,
    }


_applications = keras.applications
# `mobilenet_v3_*` and `efficientnet_b0` rescale inside the network; their
# `preprocess_input` passes pixels through unchanged.
BACKBONES = {
    "mobilenet_v2": _backbone(
        _applications.MobileNetV2, _applications.mobilenet_v2, 224
    ),
    "mobilenet_v3_small": _backbone(
        _applications.MobileNetV3Small, _applications.mobilenet_v3, 224
    ),
    "mobilenet_v3_large": _backbone(
        _applications.MobileNetV3Large, _applications.mobilenet_v3, 224
    ),
    "inception_v3": _backbone(
        _applications.InceptionV3, _applications.inception_v3, 299
    ),
    "resnet50": _backbone(_applications.ResNet50, _applications.resnet, 224),
    "efficientnet_b0": _backbone(
        _applications.EfficientNetB0, _applications.efficientnet, 224
    ),
    "vgg16": _backbone(_applications.VGG16, _applications.vgg16, 224),
    "densenet121": _backbone(
        _applications.DenseNet121, _applications.densenet, 224
    ),
    "xception": _backbone(_applications.Xception, _applications.xception, 299),
}
_WEIGHTS_SUFFIX = ".h5"  # `.weights.h5` (Keras 3) and legacy `.h5` files.
_FEATURE_DTYPES = ("float16", "float32")


def _check_backbone_name(name):
    if not isinstance(name, str) or name not in BACKBONES:
        raise ValueError(
            f"`backbone` must be one of {sorted(BACKBONES)}. "
            f"Received: backbone={name!r}"
        )
    return name


def _first_line(error):
    lines = str(error).strip().splitlines()
    # Keras' load errors end their first line with ":" before a listing.
    return lines[0].rstrip(":") if lines else type(error).__name__


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class BackbonePreprocessing(keras.layers.Layer):
    """Applies a backbone's own `preprocess_input` to raw pixels.

    Keeps the preprocessing inside the encoder, so a saved encoder takes
    RGB pixels in 0..255 and loads without `safe_mode=False` (unlike a
    `Lambda` layer).

    Args:
        backbone: a name of `BACKBONES`, e.g. `"mobilenet_v2"`.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: RGB pixels `[batch, height, width, 3]` in 0..255.

    Returns:
        The pixels as the backbone expects them (`[-1, 1]` for
        `mobilenet_v2`, BGR minus the ImageNet mean for `resnet50`, ...),
        same shape.

    Raises:
        ValueError: for an unknown `backbone`.

    Example:

    >>> layer = BackbonePreprocessing("mobilenet_v2")
    >>> keras.ops.convert_to_numpy(layer(np.full((1, 1, 1, 3), 255.0)))
    array([[[[1., 1., 1.]]]], dtype=float32)
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = _check_backbone_name(backbone)

    def call(self, inputs):
        # Keras' `preprocess_input` divides in place (`x /= 127.5`): on
        # torch that would overwrite the caller's tensor.
        images = ops.copy(inputs)
        preprocess_input = BACKBONES[self.backbone]["preprocess_input"]
        return preprocess_input(images, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["backbone"] = self.backbone
        return config


def _check_weights(weights):
    """Returns `weights` with a local file as a checked `pathlib.Path`."""
    if weights is None or weights == "imagenet":
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be 'imagenet', None or the path of a weights "
            f"file. Received: weights={weights!r}"
        )
    path = pathlib.Path(weights).expanduser()
    if path.suffix != _WEIGHTS_SUFFIX:
        raise ValueError(
            "`weights` must be 'imagenet', None or the path of a "
            f"`.weights.h5` or `.h5` file. Received: weights='{path}'"
        )
    if not path.is_file():
        raise FileNotFoundError(f"No such weights file: '{path}'")
    return path


def _check_trainable_from(trainable_from):
    if trainable_from is None or isinstance(trainable_from, str):
        return
    if isinstance(trainable_from, bool) or not isinstance(
        trainable_from, (int, np.integer)
    ):
        raise ValueError(
            "`trainable_from` must be None, a layer name or a layer index. "
            f"Received: trainable_from={trainable_from!r}"
        )


def _is_download_failure(error):
    if isinstance(error, (urllib.error.URLError, ConnectionError)):
        return True
    # `keras.utils.get_file` wraps network errors in a bare `Exception`.
    return str(error).startswith("URL fetch failure")


def _construct(name, image_size, weights):
    """Builds the headless backbone, with ImageNet weights if asked."""
    arguments = {
        "include_top": False,
        "weights": "imagenet" if weights == "imagenet" else None,
        "input_shape": (image_size, image_size, 3),
        "name": name,
    }
    constructor = BACKBONES[name]["constructor"]
    if weights != "imagenet":
        return constructor(**arguments)
    try:
        return constructor(**arguments)
    except Exception as error:
        if not _is_download_failure(error):
            raise
        raise ConnectionError(
            f"Could not download the ImageNet weights of backbone={name!r} "
            f"(no internet access?): {_first_line(error)}. Pass `weights` "
            "the path of a local weights file of the headless backbone "
            "(.weights.h5 or .h5), or weights=None for random weights."
        ) from None


def _is_keras_saving_warning(caught):
    return "saving" in pathlib.Path(caught.filename).parts


def _load_weights(backbone, path, name, image_size):
    """Loads a local weights file, turning every mismatch into one error.

    Keras skips parts of a `.weights.h5` file that match no layer with a
    warning only; such a file is refused here like a mismatched one.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            backbone.load_weights(path)
            reason = None
        except (ValueError, OSError, KeyError, TypeError) as error:
            reason = _first_line(error)
    skipped = [entry for entry in caught if _is_keras_saving_warning(entry)]
    if reason is None and skipped:
        reason = _first_line(skipped[0].message)
    if reason is not None:
        raise ValueError(
            f"The weights file '{path}' does not fit the headless {name} "
            f"backbone at image_size={image_size}: {reason}"
        )
    for entry in caught:
        warnings.warn_explicit(
            entry.message, entry.category, entry.filename, entry.lineno
        )


def _first_trainable_index(backbone, trainable_from, name):
    layers = backbone.layers
    if isinstance(trainable_from, str):
        names = [layer.name for layer in layers]
        if trainable_from not in names:
            raise ValueError(
                f"`trainable_from` names no layer of the {name} backbone "
                f"(layers {names[0]!r} to {names[-1]!r}). "
                f"Received: trainable_from={trainable_from!r}"
            )
        return names.index(trainable_from)
    if not -len(layers) <= trainable_from < len(layers):
        raise ValueError(
            f"`trainable_from` must be a layer index in [{-len(layers)}, "
            f"{len(layers)}) for the {len(layers)} layers of the {name} "
            f"backbone. Received: trainable_from={trainable_from}"
        )
    return int(trainable_from) % len(layers)


def _set_trainable(backbone, trainable_from, name):
    if trainable_from is None:
        backbone.trainable = False
        return
    start = _first_trainable_index(backbone, trainable_from, name)
    for index, layer in enumerate(backbone.layers):
        # Keras' fine-tuning guide keeps BatchNormalization frozen: batch
        # statistics of a small new dataset would wreck the pretrained
        # features (a frozen Keras 3 BatchNormalization runs in inference
        # mode).
        layer.trainable = index >= start and not isinstance(
            layer, keras.layers.BatchNormalization
        )


def build_backbone(
    name, weights="imagenet", image_size=None, trainable_from=None
):
    """Builds an image encoder: pixels to the last convolutional map.

    The model runs the backbone's own `preprocess_input`
    (`BackbonePreprocessing`), then the `keras.applications` network
    without its classifier (`include_top=False`), nested as the layer
    named `name`.

    Args:
        name: a name of `BACKBONES`, e.g. `"mobilenet_v2"`.
        weights: `"imagenet"` (downloaded by Keras once), `None` (random)
            or the path of a local weights file of the headless backbone:
            a `.weights.h5` file (`model.get_layer(name).save_weights(...)`
            or `keras.applications.MobileNetV2(include_top=False)
            .save_weights(...)`) or a legacy `.h5` file, such as the
            `*_notop.h5` files Keras downloads.
        image_size: the side `S` of the square input in pixels; `None`
            for the backbone's default (`BACKBONES[name]["image_size"]`).
        trainable_from: `None` to freeze the whole backbone, or the name
            or index (negative counts from the end) in the backbone's
            `layers` of the first layer to fine-tune. BatchNormalization
            layers always stay frozen.

    Returns:
        A `keras.Model` from float32 pixels `[batch, S, S, 3]` in 0..255 to
        the feature map `[batch, h, w, C]`.

    Raises:
        ValueError: for an unknown `name`, an invalid `image_size` or
            `trainable_from`, or a weights file that does not fit.
        FileNotFoundError: if a weights file does not exist.
        ConnectionError: if the ImageNet weights cannot be downloaded.

    Example:

    >>> encoder = build_backbone("mobilenet_v2", weights=None, image_size=96)
    >>> encoder.output.shape
    (None, 3, 3, 1280)

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), section
          3.1.1 (annotation vectors from a lower convolutional layer) and
          section 4.3 (the ImageNet-pretrained encoder).
        - [Transfer learning & fine-tuning](
          https://keras.io/guides/transfer_learning/) (frozen
          BatchNormalization).
    """
    name = _check_backbone_name(name)
    if image_size is None:
        image_size = BACKBONES[name]["image_size"]
    image_size = check_positive_int("image_size", image_size)
    weights_path = _check_weights(weights)
    _check_trainable_from(trainable_from)
    backbone = _construct(name, image_size, weights)
    if isinstance(weights_path, pathlib.Path):
        _load_weights(backbone, weights_path, name, image_size)
    _set_trainable(backbone, trainable_from, name)
    images = keras.Input((image_size, image_size, 3), name="images")
    # In float32 under mixed precision too: bfloat16 would round pixels
    # near 255 to steps of 1 before the mean is subtracted.
    preprocess = BackbonePreprocessing(
        name, name="preprocessing", dtype="float32"
    )
    features = backbone(preprocess(images))
    return keras.Model(images, features, name=f"{name}_encoder")


def decode_image(image_bytes, image_size):
    """Decodes an encoded image into float32 pixels `[S, S, 3]`.

    TensorFlow operations only, so it runs inside `tf.data` pipelines,
    `tf.function`s and SavedModels that take encoded images. JPEG, PNG,
    GIF (first frame) and BMP files are read; grey images are repeated
    over 3 channels, alpha is dropped, 16-bit PNGs are scaled to 0..255.
    The image is resized bilinearly (half-pixel centres) to `S x S`,
    without keeping its aspect ratio.

    Args:
        image_bytes: a scalar string tensor: the content of an image file.
        image_size: the side `S` in pixels, a Python integer.

    Returns:
        A float32 tensor `[S, S, 3]` in 0..255.

    Raises:
        ValueError: for an invalid `image_size`.
        tf.errors.InvalidArgumentError: when run on bytes that are not a
            supported image (use `load_image` for an error naming a file).

    Example:

    >>> png = tf.io.encode_png(tf.fill([2, 2, 3], tf.constant(7, tf.uint8)))
    >>> decode_image(png, 4).shape
    TensorShape([4, 4, 3])
    """
    image_size = check_positive_int("image_size", image_size)
    image = tf.io.decode_image(
        image_bytes, channels=3, dtype=tf.uint8, expand_animations=False
    )
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    return tf.cast(image, tf.float32)


def _check_image_file(path):
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: '{path}'")
    return path


def load_image(path, image_size):
    """Reads an image file into float32 pixels `[S, S, 3]`.

    Args:
        path: a JPEG, PNG, GIF or BMP file.
        image_size: the side `S` in pixels (see `decode_image`).

    Returns:
        A float32 NumPy array `[S, S, 3]` in 0..255.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it cannot be read or decoded as an image (naming
            the file).

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
    >>> _ = path.write_bytes(tf.io.encode_png(tf.fill([8, 4, 1],
    ...     tf.constant(9, tf.uint8))).numpy())
    >>> image = load_image(path, 2)
    >>> image.shape, float(image.min()), float(image.max())
    ((2, 2, 3), 9.0, 9.0)
    """
    image_size = check_positive_int("image_size", image_size)
    path = _check_image_file(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ValueError(f"Could not read image '{path}': {error}") from None
    try:
        return decode_image(content, image_size).numpy()
    except tf.errors.OpError as error:
        raise ValueError(
            f"Could not decode image '{path}': {_first_line(error.message)}"
        ) from None


def image_dataset(paths, image_size, batch_size):
    """A `tf.data.Dataset` of image batches `[batch, S, S, 3]`, in order.

    Files are decoded in parallel (`decode_image`), keeping their order.
    Every file must exist; one that cannot be decoded fails the batch
    holding it when iterated (`cache_features` then names it).

    Args:
        paths: a list of image files.
        image_size: the side `S` in pixels.
        batch_size: images per batch; the last batch may be smaller.

    Returns:
        A `tf.data.Dataset` of float32 tensors `[batch, S, S, 3]` in
        0..255.

    Raises:
        FileNotFoundError: naming the first file that does not exist.
        ValueError: for an invalid `image_size` or `batch_size`.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> _ = path.write_bytes(tf.io.encode_png(tf.zeros([5, 5, 3],
    ...     tf.uint8)).numpy())
    >>> [batch.shape for batch in image_dataset([path] * 3, 4, 2)]
    [TensorShape([2, 4, 4, 3]), TensorShape([1, 4, 4, 3])]
    """
    image_size = check_positive_int("image_size", image_size)
    batch_size = check_positive_int("batch_size", batch_size)
    files = [str(_check_image_file(path)) for path in paths]
    dataset = tf.data.Dataset.from_tensor_slices(
        tf.constant(files, dtype=tf.string)
    )
    dataset = dataset.map(
        lambda file: decode_image(tf.io.read_file(file), image_size),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _unique_images(images):
    """Returns (names, paths) of the distinct images, in first-seen order."""
    paths_by_name = {}
    for image in images:
        if isinstance(image, CaptionedImage):
            name, path = image.image, image.path
            if path is None:
                raise ValueError(
                    f"Image {name!r} has no file (loaded without an image "
                    "folder): `cache_features` needs the image files."
                )
        elif isinstance(image, (str, os.PathLike)):
            path = pathlib.Path(image)
            name = path.name
        else:
            raise ValueError(
                "`images` must hold `CaptionedImage`s or paths. "
                f"Received: {image!r}"
            )
        path = pathlib.Path(path).expanduser()
        known = paths_by_name.setdefault(name, path)
        if known != path:
            raise ValueError(
                f"Two files share the image name {name!r}, the key of its "
                f"features: '{known}' and '{path}'."
            )
    if not paths_by_name:
        raise ValueError("`images` is empty: no image to encode.")
    return list(paths_by_name), list(paths_by_name.values())


def _encoder_and_size(backbone, weights, image_size):
    """Returns (encoder, image side) for a backbone name or model."""
    if not isinstance(backbone, keras.Model):
        encoder = build_backbone(backbone, weights, image_size)
        return encoder, encoder.input_shape[1]
    input_shape = tuple(backbone.input_shape)
    if (
        len(input_shape) != 4
        or input_shape[3] != 3
        or input_shape[1] is None
        or input_shape[1] != input_shape[2]
    ):
        raise ValueError(
            "A `backbone` model must take square RGB images "
            f"[batch, S, S, 3]. Received: input_shape={input_shape}"
        )
    if image_size is not None and image_size != input_shape[1]:
        raise ValueError(
            f"`image_size` must match the backbone's input side "
            f"{input_shape[1]}. Received: image_size={image_size!r}"
        )
    return backbone, input_shape[1]


def _name_unreadable(paths, error):
    """Raises the error of the first file of `paths` that fails to load."""
    for path in paths:
        load_image(path, 1)
    raise error


def _predict(encoder, pixels, batch_size):
    """The encoder's maps of a batch, padded to `batch_size` images.

    A smaller last batch would trace (and with XLA compile) the encoder
    once more.
    """
    count = len(pixels)
    if count < batch_size:
        padding = np.zeros((batch_size - count,) + pixels.shape[1:])
        pixels = np.concatenate([pixels, padding.astype(pixels.dtype)])
    return ops.convert_to_numpy(encoder.predict_on_batch(pixels))[:count]


def _encode(encoder, paths, image_size, batch_size, dtype, verbose):
    """Runs `encoder` over the images; returns `[N, h, w, C]` in `dtype`."""
    progress = keras.utils.Progbar(
        len(paths), verbose=verbose, unit_name="image"
    )
    batch_size = min(batch_size, len(paths))
    batches = image_dataset(paths, image_size, batch_size).as_numpy_iterator()
    features = None
    for start in range(0, len(paths), batch_size):
        batch_paths = paths[start : start + batch_size]
        try:
            pixels = next(batches)
        except tf.errors.OpError as error:
            _name_unreadable(batch_paths, error)
        maps = _predict(encoder, pixels, batch_size)
        if features is None:
            features = np.empty((len(paths),) + maps.shape[1:], dtype)
        rows = features[start : start + len(maps)]
        # Overflow is reported below, naming the images.
        with np.errstate(over="ignore"):
            rows[...] = maps
        if not np.all(np.isfinite(rows)):
            raise ValueError(
                f"The features of '{batch_paths[0]}' (or the next images "
                f"of its batch) are not finite in {dtype}; use "
                "dtype='float32' or check the backbone's weights."
            )
        progress.add(len(maps))
    return features


def _write_npz(output_path, arrays):
    """Writes an `.npz` beside `output_path`, then renames it into place."""

    def write(path):
        with open(path, "wb") as file:
            np.savez(file, **arrays)

    write_atomically(output_path, write)


def cache_features(
    images,
    output_path,
    backbone,
    weights="imagenet",
    image_size=None,
    batch_size=32,
    dtype="float16",
    verbose=1,
):
    """Precomputes the feature maps of images into an `.npz` file.

    The file holds `features` `[N, h, w, C]` and `image`, the file name of
    each row: the layout of `zoo.data.load_features`. Each distinct image
    is encoded once, in first-seen order. The file is written under a
    temporary name in the same folder and renamed into place, so an
    interrupted run leaves no partial file and keeps an older one.

    Args:
        images: a list of `CaptionedImage` (with `path`), or of image
            files; the row name is `CaptionedImage.image` or the file's
            name.
        output_path: the `.npz` file to write; its folder is created.
        backbone: a name of `BACKBONES`, or an encoder model taking pixels
            `[batch, S, S, 3]` in 0..255 (e.g. from `build_backbone`).
        weights: the backbone's weights (see `build_backbone`); unused
            with a model.
        image_size: the input side in pixels; `None` for the backbone's
            default (or the model's input side).
        batch_size: images encoded at once.
        dtype: `"float16"` (half the disk and memory) or `"float32"`.
        verbose: 0 for silence, 1 for a Keras progress bar.

    Returns:
        The `pathlib.Path` of the written file.

    Raises:
        ValueError: for invalid arguments, an image without a file, two
            files with the same name, an image that cannot be decoded
            (naming it) or features that overflow `dtype`.
        FileNotFoundError: naming a missing image or weights file.

    Example:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.png").write_bytes(tf.io.encode_png(
    ...     tf.zeros([64, 64, 3], tf.uint8)).numpy())
    >>> path = cache_features([folder / "a.png"], folder / "f.npz",
    ...     "mobilenet_v3_small", weights=None, image_size=64, verbose=0)
    >>> from zoo.data import load_features
    >>> features = load_features(path)
    >>> features.names, features.features.shape
    (('a.png',), (1, 2, 2, 576))
    """
    if dtype not in _FEATURE_DTYPES:
        raise ValueError(
            f"`dtype` must be 'float16' or 'float32'. Received: dtype={dtype!r}"
        )
    batch_size = check_positive_int("batch_size", batch_size)
    output_path = pathlib.Path(output_path).expanduser()
    if output_path.suffix != ".npz":
        raise ValueError(
            "`output_path` must be an `.npz` file. "
            f"Received: output_path='{output_path}'"
        )
    names, paths = _unique_images(images)
    for path in paths:
        _check_image_file(path)
    encoder, side = _encoder_and_size(backbone, weights, image_size)
    features = _encode(encoder, paths, side, batch_size, dtype, verbose)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    _write_npz(output_path, {"features": features, "image": names})
    return output_path
