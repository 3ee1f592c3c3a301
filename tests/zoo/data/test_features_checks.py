"""Feature maps are checked where they enter (issue 20, items 6 and 11).

`load_features` refuses, naming the file, maps with a size 0 (no rows,
locations or channels: these aborted the process in oneDNN) and,
naming the row and image, values that are not finite or a map whose
squared L2 norm overflows float32 (one value of 1e38 does): training ran
on NaN and `caption` printed garbage.
"""

import numpy as np
import pytest

from zoo.data import captions


def _save(path, features, **extra):
    names = np.array([f"{row}.jpg" for row in range(len(features))])
    np.savez(path, features=features, image=names, **extra)
    return path


def _maps(dtype="float32"):
    return np.random.default_rng(0).normal(size=(3, 2, 2, 4)).astype(dtype)


@pytest.mark.parametrize(
    "dtype, row, value, found",
    [
        ("float32", 1, np.nan, "the value nan"),
        ("float32", 2, np.inf, "the value inf"),
        ("float16", 0, -np.inf, "the value -inf"),
        ("float64", 1, 1e300, "squared L2 norm of inf"),
        ("float32", 2, 1e38, "squared L2 norm of 1e\\+76"),
        ("float32", 1, 2e19, "squared L2 norm of 4e\\+38"),
    ],
)
def test_values_that_overflow_name_the_file_row_and_image(
    tmp_path, dtype, row, value, found
):
    features = _maps(dtype)
    features[row, 1, 0, 2] = value
    path = _save(tmp_path / "bad.npz", features)
    with pytest.raises(ValueError, match=found) as error:
        captions.load_features(path)
    message = str(error.value)
    assert str(path) in message and f"row {row} (image '{row}.jpg')" in message
    assert "finite" in message and "Received" in message


def test_quantized_features_are_checked_by_their_real_values(tmp_path):
    quantized = np.full((2, 2, 2, 4), 200, np.uint8)
    path = _save(tmp_path / "q.npz", quantized, scale=1e37, zero_point=0)
    with pytest.raises(ValueError, match=r"row 0 \(image '0.jpg'\)"):
        captions.load_features(path, dequantize=False)
    with pytest.raises(ValueError, match="row 0"):
        captions.load_features(path)
    good = _save(tmp_path / "good.npz", quantized, scale=0.5, zero_point=100)
    assert captions.load_features(good).features.max() == 50.0


def test_large_but_finite_maps_still_load(tmp_path):
    # Backbone maps scaled past float16 (a float32 cache) stay valid.
    features = _maps() * 1e6
    path = _save(tmp_path / "big.npz", features)
    np.testing.assert_array_equal(
        captions.load_features(path).features, features
    )


@pytest.mark.parametrize(
    "shape", [(2, 2, 2, 0), (2, 0, 0, 8), (2, 0, 3, 8), (0, 2, 2, 8)]
)
def test_maps_with_a_size_0_are_refused_naming_the_file(tmp_path, shape):
    path = _save(tmp_path / "empty.npz", np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match=r"every size at least 1") as error:
        captions.load_features(path)
    assert str(path) in str(error.value) and str(shape) in str(error.value)
