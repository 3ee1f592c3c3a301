import numpy as np

from tests.conftest import to_numpy


def named_weights(layer):
    """Maps `sublayer/name` (or `name`) of each weight to its NumPy value."""
    names = {}
    for weight in layer.weights:
        parts = weight.path.split("/")
        own = parts[parts.index(layer.name) + 1 :]
        names["/".join(own)] = to_numpy(weight).astype("float64")
    return names


def randomize_weights(layer, seed=0):
    """Gives every weight (biases too) a random value, so zeros hide nothing."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        shape = tuple(weight.shape)
        weight.assign(rng.normal(scale=0.5, size=shape).astype("float32"))


def relative_error(actual, expected):
    actual = np.asarray(actual, dtype="float64")
    expected = np.asarray(expected, dtype="float64")
    scale = max(np.abs(expected).max(), 1e-12)
    return np.abs(actual - expected).max() / scale
