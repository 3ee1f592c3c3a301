"""Image encoders and feature caching of the captioner (tiny, weights=None).

Oracles: the preprocessing formulas of the Keras documentation written in
NumPy, parameter counts worked by hand, pixels written with PIL and the
half-pixel bilinear resize worked by hand.
"""

import urllib.error
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend import config as keras_config
from keras.src.utils import file_utils
from PIL import Image

from tests.conftest import to_numpy
from zoo.captioning import encoders
from zoo.captioning.encoders import BACKBONES
from zoo.captioning.encoders import BackbonePreprocessing
from zoo.captioning.encoders import build_backbone
from zoo.captioning.encoders import cache_features
from zoo.captioning.encoders import decode_image
from zoo.captioning.encoders import image_dataset
from zoo.captioning.encoders import load_image
from zoo.data import CaptionedImage
from zoo.data import load_features

SIDE = 96
# MobileNetV2's last map at 96 pixels: 96 / 32 = 3 positions a side.
MAP_SHAPE = (3, 3, 1280)
# name: (keras.applications constructor, its module, default input side)
EXPECTED_BACKBONES = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2", 224),
    "mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3", 224),
    "mobilenet_v3_large": ("MobileNetV3Large", "mobilenet_v3", 224),
    "inception_v3": ("InceptionV3", "inception_v3", 299),
    "resnet50": ("ResNet50", "resnet", 224),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", 224),
    "vgg16": ("VGG16", "vgg16", 224),
    "densenet121": ("DenseNet121", "densenet", 224),
    "xception": ("Xception", "xception", 299),
}
IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)
IMAGENET_RGB_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_RGB_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _random_pixels(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def _write_image(path, pixels, image_format="PNG"):
    Image.fromarray(pixels).save(path, format=image_format)
    return path


def _one_line(error_info):
    message = str(error_info.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def encoder():
    return build_backbone("mobilenet_v2", weights=None, image_size=SIDE)


@pytest.fixture(scope="module")
def weights_file(encoder, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.weights.h5"
    encoder.get_layer("mobilenet_v2").save_weights(path)
    return path


@pytest.fixture(scope="module")
def pixels():
    return _random_pixels((2, SIDE, SIDE, 3), seed=0).astype(np.float32)


def test_every_backbone_has_its_preprocessing_and_default_size():
    assert set(EXPECTED_BACKBONES) <= set(BACKBONES)
    for name, (constructor, module, size) in EXPECTED_BACKBONES.items():
        backbone = BACKBONES[name]
        assert backbone["constructor"] is getattr(
            keras.applications, constructor
        )
        assert (
            backbone["preprocess_input"]
            is getattr(keras.applications, module).preprocess_input
        )
        assert backbone["image_size"] == size


def _scale_to_unit_range(x):
    return x / 127.5 - 1.0


def _caffe(x):
    return x[..., ::-1] - IMAGENET_BGR_MEAN


def _torch(x):
    return (x / 255.0 - IMAGENET_RGB_MEAN) / IMAGENET_RGB_STD


@pytest.mark.parametrize(
    "name, formula",
    [
        ("mobilenet_v2", _scale_to_unit_range),
        ("inception_v3", _scale_to_unit_range),
        ("xception", _scale_to_unit_range),
        ("resnet50", _caffe),
        ("vgg16", _caffe),
        ("densenet121", _torch),
        # These two rescale inside the network.
        ("mobilenet_v3_small", lambda x: x),
        ("efficientnet_b0", lambda x: x),
    ],
)
def test_preprocessing_layer_applies_each_backbone_formula(name, formula):
    images = _random_pixels((2, 3, 4, 3), seed=1).astype(np.float32)
    untouched = images.copy()
    result = to_numpy(BackbonePreprocessing(name)(images))
    np.testing.assert_allclose(result, formula(untouched), atol=1e-4)
    np.testing.assert_array_equal(images, untouched)


def test_mobilenet_v2_map_runs_the_keras_preprocessing(encoder, pixels):
    assert encoder.input_shape == (None, SIDE, SIDE, 3)
    assert to_numpy(encoder(pixels[:1])).shape == (1,) + MAP_SHAPE
    layer = encoder.get_layer("preprocessing")
    assert isinstance(layer, BackbonePreprocessing)
    by_hand = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(to_numpy(layer(pixels)), by_hand, atol=1e-6)
    network = encoder.get_layer("mobilenet_v2")
    np.testing.assert_allclose(
        to_numpy(encoder(pixels)), to_numpy(network(by_hand)), atol=1e-5
    )


def test_a_frozen_backbone_has_no_trainable_weights(encoder):
    assert encoder.trainable_weights == []
    assert len(encoder.non_trainable_weights) == len(encoder.weights) > 0


def test_weights_file_round_trip_and_fine_tuning_from_a_layer_name(
    encoder, weights_file, pixels
):
    tuned = build_backbone(
        "mobilenet_v2",
        weights=weights_file,
        image_size=SIDE,
        trainable_from="Conv_1",
    )
    np.testing.assert_allclose(
        to_numpy(tuned(pixels)), to_numpy(encoder(pixels)), atol=1e-6
    )
    # Conv_1 (1x1, 320 -> 1280 channels, no bias), then Conv_1_bn (kept
    # frozen) and a ReLU: one trainable kernel of 320 * 1280 weights.
    assert [tuple(w.shape) for w in tuned.trainable_weights] == [
        (1, 1, 320, 1280)
    ]
    backbone = tuned.get_layer("mobilenet_v2")
    assert not backbone.get_layer("Conv_1_bn").trainable
    assert not backbone.get_layer("block_16_project").trainable


def test_fine_tuning_from_an_index_keeps_batch_norm_frozen():
    tuned = build_backbone(
        "mobilenet_v3_small", weights=None, image_size=32, trainable_from=-3
    )
    # The last three layers: conv_1 (1x1, 96 -> 576, no bias), conv_1_bn
    # and its activation.
    parameters = sum(int(np.prod(w.shape)) for w in tuned.trainable_weights)
    assert parameters == 96 * 576
    batch_norms = [
        layer
        for layer in tuned.get_layer("mobilenet_v3_small").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)


@pytest.mark.parametrize(
    "trainable_from, match",
    [
        (10_000, r"layer index in \[-\d+, \d+\).*trainable_from=10000"),
        ("no_such_layer", r"names no layer.*trainable_from='no_such_layer'"),
    ],
)
def test_trainable_from_must_name_a_layer(trainable_from, match):
    with pytest.raises(ValueError, match=match) as error:
        build_backbone(
            "mobilenet_v3_small",
            weights=None,
            image_size=32,
            trainable_from=trainable_from,
        )
    _one_line(error)


def test_legacy_h5_weights_file_loads(encoder, pixels, tmp_path):
    path = tmp_path / "mobilenet_v2_notop.h5"
    with warnings.catch_warnings():
        # Saving the legacy format warns that it is legacy.
        warnings.simplefilter("ignore")
        encoder.get_layer("mobilenet_v2").save(path)
    loaded = build_backbone("mobilenet_v2", weights=path, image_size=SIDE)
    np.testing.assert_allclose(
        to_numpy(loaded(pixels)), to_numpy(encoder(pixels)), atol=1e-6
    )


def test_weights_errors_name_the_file(weights_file, tmp_path):
    missing = tmp_path / "absent.weights.h5"
    with pytest.raises(FileNotFoundError, match="absent.weights.h5") as error:
        build_backbone("mobilenet_v2", weights=missing, image_size=SIDE)
    _one_line(error)
    text_file = tmp_path / "weights.txt"
    text_file.write_text("x")
    with pytest.raises(ValueError, match=r"weights='.*weights\.txt'") as error:
        build_backbone("mobilenet_v2", weights=text_file, image_size=SIDE)
    _one_line(error)
    # MobileNetV2 weights do not fit MobileNetV3Small.
    with pytest.raises(ValueError, match="mobilenet_v2.weights.h5") as error:
        build_backbone(
            "mobilenet_v3_small", weights=weights_file, image_size=32
        )
    assert "does not fit" in _one_line(error)


def test_unknown_backbone_lists_the_supported_names():
    with pytest.raises(ValueError, match="Received: backbone='resnet5'") as e:
        build_backbone("resnet5", weights=None)
    assert "'mobilenet_v2'" in _one_line(e) and "'xception'" in str(e.value)
    with pytest.raises(ValueError, match="Received: backbone='resnet5'"):
        BackbonePreprocessing("resnet5")


def test_offline_imagenet_weights_error_is_one_clear_line(
    monkeypatch, tmp_path
):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    # An empty Keras cache, so that Keras tries to download.
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(ConnectionError, match="ImageNet weights") as error:
        build_backbone("mobilenet_v2", image_size=SIDE)
    message = _one_line(error)
    assert "no internet" in message and "local weights file" in message


def test_encoder_saves_and_loads_in_safe_mode(encoder, pixels, tmp_path):
    path = tmp_path / "encoder.keras"
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("preprocessing").backbone == "mobilenet_v2"
    np.testing.assert_array_equal(
        to_numpy(loaded(pixels)), to_numpy(encoder(pixels))
    )


@pytest.mark.parametrize("image_format", ["PNG", "BMP"])
def test_load_image_keeps_the_pixels_of_a_square_image(image_format, tmp_path):
    pixels = _random_pixels((6, 6, 3), seed=2)
    path = _write_image(tmp_path / "image", pixels, image_format)
    image = load_image(path, 6)
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, pixels)


def test_load_image_resizes_bilinearly_and_repeats_grey(tmp_path):
    path = _write_image(tmp_path / "grey.png", np.array([[0, 100]], np.uint8))
    # Half-pixel centres: output column j samples input x = (j + 0.5) / 2
    # - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
    expected_row = np.array([0.0, 25.0, 75.0, 100.0])
    image = load_image(path, 4)
    assert image.shape == (4, 4, 3)
    np.testing.assert_allclose(
        image, np.broadcast_to(expected_row[None, :, None], (4, 4, 3))
    )


def test_load_image_reads_jpeg_gif_and_drops_alpha(tmp_path):
    colour = np.array([200, 40, 90], np.uint8)
    solid = np.broadcast_to(colour, (16, 16, 3)).copy()
    jpeg = _write_image(tmp_path / "solid.jpg", solid, "JPEG")
    np.testing.assert_allclose(load_image(jpeg, 8), solid[:8, :8], atol=3)
    gif = _write_image(tmp_path / "solid.gif", solid, "GIF")
    np.testing.assert_array_equal(load_image(gif, 8), solid[:8, :8])
    rgba = np.concatenate([solid, np.full((16, 16, 1), 7, np.uint8)], -1)
    png = _write_image(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(load_image(png, 16), solid)


def test_unreadable_or_missing_images_are_named(tmp_path):
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="garbage.jpg") as error:
        load_image(garbage, 8)
    _one_line(error)
    with pytest.raises(FileNotFoundError, match="absent.png") as error:
        load_image(tmp_path / "absent.png", 8)
    _one_line(error)


def test_decode_image_in_a_graph_and_image_dataset_keep_order(tmp_path):
    images = [_random_pixels((5, 5, 3), seed=seed) for seed in range(3)]
    paths = [
        _write_image(tmp_path / f"{index}.png", image)
        for index, image in enumerate(images)
    ]
    batches = [batch.numpy() for batch in image_dataset(paths, 5, 2)]
    assert [batch.shape for batch in batches] == [(2, 5, 5, 3), (1, 5, 5, 3)]
    np.testing.assert_array_equal(np.concatenate(batches), np.stack(images))
    graph_decode = tf.function(lambda content: decode_image(content, 5))
    decoded = graph_decode(tf.io.read_file(str(paths[1])))
    np.testing.assert_array_equal(decoded.numpy(), images[1])


def _spy_on_batches(monkeypatch, model):
    """Records the images each batch encodes and the batch sizes run."""
    encoded_paths, batch_sizes = [], []
    make_dataset = encoders.image_dataset
    predict = model.predict_on_batch

    def recording_dataset(paths, image_size, batch_size):
        encoded_paths.extend(paths)
        return make_dataset(paths, image_size, batch_size)

    def recording_predict(batch):
        batch_sizes.append(len(batch))
        return predict(batch)

    monkeypatch.setattr(encoders, "image_dataset", recording_dataset)
    monkeypatch.setattr(model, "predict_on_batch", recording_predict)
    return encoded_paths, batch_sizes


def test_cache_features_round_trip(encoder, tmp_path, monkeypatch, capsys):
    pixels = {
        name: _random_pixels((SIDE, SIDE, 3), seed=seed)
        for seed, name in enumerate(["b.png", "a.png", "c.png"])
    }
    paths = {
        name: _write_image(tmp_path / name, p) for name, p in pixels.items()
    }
    images = [
        CaptionedImage("b.png", ("a dog",), paths["b.png"]),
        CaptionedImage("a.png", ("a cat",), paths["a.png"]),
        CaptionedImage("b.png", ("a puppy",), paths["b.png"]),
        paths["c.png"],
    ]
    encoded_paths, batch_sizes = _spy_on_batches(monkeypatch, encoder)
    output = cache_features(
        images, tmp_path / "out" / "features.npz", encoder, batch_size=2
    )
    assert output == tmp_path / "out" / "features.npz"
    assert encoded_paths == [paths["b.png"], paths["a.png"], paths["c.png"]]
    # The last batch is padded to the batch size: one trace of the model.
    assert batch_sizes == [2, 2]
    assert "3/3" in capsys.readouterr().out
    with np.load(output) as archive:
        assert archive["features"].dtype == np.float16
    features = load_features(output)
    assert features.names == ("b.png", "a.png", "c.png")
    assert features.features.shape == (3,) + MAP_SHAPE
    expected = to_numpy(
        encoder(np.stack([pixels[name] for name in features.names]))
    )
    np.testing.assert_allclose(
        features.features, expected, rtol=1e-3, atol=1e-3
    )


def test_cache_features_builds_a_named_backbone(
    encoder, weights_file, tmp_path, capsys
):
    pixels = _random_pixels((SIDE, SIDE, 3), seed=5)
    path = _write_image(tmp_path / "x.png", pixels)
    output = cache_features(
        [path],
        tmp_path / "x.npz",
        "mobilenet_v2",
        weights=weights_file,
        image_size=SIDE,
        dtype="float32",
        verbose=0,
    )
    assert capsys.readouterr().out == ""
    features = load_features(output)
    assert features.names == ("x.png",)
    np.testing.assert_allclose(
        features.features,
        to_numpy(encoder(pixels[None].astype(np.float32))),
        atol=1e-5,
    )


def test_unreadable_image_is_named_and_leaves_the_old_file(encoder, tmp_path):
    good = [
        _write_image(tmp_path / f"{i}.png", _random_pixels((8, 8, 3), i))
        for i in range(2)
    ]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but truncated")
    output = tmp_path / "features.npz"
    output.write_bytes(b"previous run")
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ValueError, match="broken.png") as error:
        cache_features(
            good + [broken], output, encoder, batch_size=2, verbose=0
        )
    _one_line(error)
    assert output.read_bytes() == b"previous run"
    assert sorted(tmp_path.iterdir()) == before
    with pytest.raises(FileNotFoundError, match="gone.png"):
        cache_features(good + [tmp_path / "gone.png"], output, encoder)


def test_failed_write_leaves_no_partial_file(encoder, tmp_path, monkeypatch):
    # Two images, a batch of two: the model traced by the tests above.
    paths = [
        _write_image(tmp_path / f"{i}.png", _random_pixels((8, 8, 3), i))
        for i in range(2)
    ]

    def failing_savez(file, **arrays):
        file.write(b"PK partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space left"):
        cache_features(
            paths, tmp_path / "f.npz", encoder, batch_size=2, verbose=0
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png"]


def test_cache_features_refuses_ambiguous_or_unencodable_input(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    pixels = _random_pixels((8, 8, 3), seed=3)
    paths = [
        _write_image(folder / "a.png", pixels) for folder in (first, second)
    ]
    # Scales pixels past float16's largest value, 65504.
    scaling = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Rescaling(1e4)]
    )
    with pytest.raises(ValueError, match="share the image name 'a.png'"):
        cache_features(paths, tmp_path / "f.npz", scaling, verbose=0)
    with pytest.raises(ValueError, match="has no file"):
        cache_features(
            [CaptionedImage("a.png", ("x",))], tmp_path / "f.npz", scaling
        )
    with pytest.raises(ValueError, match="not finite in float16"):
        cache_features(paths[:1], tmp_path / "f.npz", scaling, verbose=0)
    with pytest.raises(ValueError, match="image_size=16"):
        cache_features(paths[:1], tmp_path / "f.npz", scaling, image_size=16)
    output = cache_features(
        paths[:1], tmp_path / "f.npz", scaling, dtype="float32", verbose=0
    )
    np.testing.assert_allclose(
        load_features(output).features[0], pixels * 1e4, rtol=1e-6
    )
