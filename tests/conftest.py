import pathlib

import keras
import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def to_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


@pytest.fixture(autouse=True)
def reset_dtype_policy():
    """Keeps a test that sets a dtype policy itself from leaking it.

    The layer tests set mixed precision policies directly. Training
    restores the policy it sets (`tests/zoo/test_trainer.py` checks that
    before this fixture runs).
    """
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def gradient(function, inputs):
    """d sum(function(inputs)) / d inputs with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(function(inputs))
        return tape.gradient(total, inputs).numpy()
    if backend == "jax":
        import jax

        return np.asarray(
            jax.grad(lambda x: function(x).sum())(jax.numpy.asarray(inputs))
        )
    import torch

    inputs = torch.tensor(inputs, requires_grad=True)
    function(inputs).sum().backward()
    return inputs.grad.numpy()
