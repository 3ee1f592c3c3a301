"""`doubly_stochastic_penalty`: equation 14 of Show, Attend and Tell."""

import keras
import numpy as np
import pytest

import keras_attention
from keras_attention.losses import doubly_stochastic_penalty
from tests.conftest import gradient
from tests.conftest import to_numpy


def penalty_oracle(attention, value_mask=None, target=1.0):
    """sum over heads and unmasked i of (target - sum_t alpha_ti)^2."""
    attention = np.asarray(attention, "float64")
    if attention.ndim == 3:
        attention = attention[:, None]
    batch, heads, steps, positions = attention.shape
    if value_mask is None:
        value_mask = np.ones((batch, positions), bool)
    penalties = np.zeros(batch)
    for n in range(batch):
        for h in range(heads):
            for i in range(positions):
                if value_mask[n, i]:
                    received = sum(attention[n, h, t, i] for t in range(steps))
                    penalties[n] += (target - received) ** 2
    return penalties


def random_attention(shape, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape)
    weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return weights.astype("float32")


def test_exported_as_keras_attention_losses():
    assert (
        keras_attention.losses.doubly_stochastic_penalty
        is doubly_stochastic_penalty
    )


def test_hand_worked_examples():
    # Two steps, each splitting its attention between positions 0 and 1:
    # those receive 1 in total, position 2 receives 0: (1 - 0)^2 = 1.
    attention = np.array([[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]], "float32")
    np.testing.assert_allclose(
        to_numpy(doubly_stochastic_penalty(attention)), [1.0]
    )
    # Both steps on position 0: (1 - 2)^2 + 1 + 1 = 3; with target 2/3
    # (two steps over three positions): (4/3)^2 + 2 (2/3)^2 = 24/9.
    attention = np.array([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], "float32")
    np.testing.assert_allclose(
        to_numpy(doubly_stochastic_penalty(attention)), [3.0]
    )
    np.testing.assert_allclose(
        to_numpy(doubly_stochastic_penalty(attention, target=2 / 3)),
        [24 / 9],
        rtol=1e-6,
    )
    # Masking positions 1 and 2 leaves (1 - 2)^2 = 1.
    mask = np.array([[True, False, False]])
    np.testing.assert_allclose(
        to_numpy(doubly_stochastic_penalty(attention, mask)), [1.0]
    )


@pytest.mark.parametrize(
    "shape", [(3, 4, 6), (3, 2, 4, 6)], ids=["one_head", "heads"]
)
def test_matches_numpy_with_masks(shape):
    attention = random_attention(shape, seed=1)
    value_mask = np.ones((3, 6), bool)
    value_mask[1, 4:] = False
    value_mask[2, :] = False
    # Masked target steps: their rows are zero, so they add nothing.
    attention[..., 0, 3:, :] = 0.0
    for target in (1.0, 0.5):
        penalty = doubly_stochastic_penalty(attention, value_mask, target)
        assert tuple(penalty.shape) == (3,)
        assert keras.backend.standardize_dtype(penalty.dtype) == "float32"
        np.testing.assert_allclose(
            to_numpy(penalty),
            penalty_oracle(attention, value_mask, target),
            rtol=1e-5,
        )
    assert to_numpy(doubly_stochastic_penalty(attention, value_mask))[2] == 0
    np.testing.assert_allclose(
        to_numpy(doubly_stochastic_penalty(attention)),
        penalty_oracle(attention),
        rtol=1e-5,
    )


def test_zero_rows_add_nothing():
    attention = random_attention((2, 3, 5), seed=2)
    padded = np.concatenate([attention, np.zeros((2, 2, 5), "float32")], 1)
    np.testing.assert_allclose(
        to_numpy(doubly_stochastic_penalty(padded)),
        to_numpy(doubly_stochastic_penalty(attention)),
    )


def test_gradient_pushes_towards_the_target():
    # d/d alpha_ti of (1 - sum_t alpha_ti)^2 is -2 (1 - sum_t alpha_ti):
    # negative (attend more) where a position received less than 1,
    # positive where it received more; zero where masked.
    attention = np.array(
        [[[0.7, 0.2, 0.1, 0.0], [0.6, 0.3, 0.1, 0.0]]], "float32"
    )
    value_mask = np.array([[True, True, True, False]])
    grad = gradient(
        lambda a: doubly_stochastic_penalty(a, value_mask), attention
    )
    received = attention.sum(1, keepdims=True)
    expected = np.broadcast_to(-2.0 * (1.0 - received), attention.shape)
    expected = np.where(value_mask[:, None], expected, 0.0)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
    assert np.all(grad[0, :, 0] > 0) and np.all(grad[0, :, 1:3] < 0)
    assert np.all(grad[0, :, 3] == 0)


def test_half_precision_attention_is_summed_in_float32():
    attention = random_attention((2, 40, 8), seed=3)
    penalty = doubly_stochastic_penalty(attention.astype("float16"))
    assert keras.backend.standardize_dtype(penalty.dtype) == "float32"
    np.testing.assert_allclose(
        to_numpy(penalty),
        penalty_oracle(attention.astype("float16")),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "attention_shape, mask_shape, target, message",
    [
        ((3, 6), None, 1.0, "`attention` must have rank 3"),
        ((3, 2, 1, 4, 6), None, 1.0, "`attention` must have rank 3"),
        ((3, 4, 6), (3, 5), 1.0, r"`value_mask` must have shape \(3, 6\)"),
        ((3, 4, 6), (6,), 1.0, "`value_mask` must have shape"),
        ((3, 2, 4, 6), (2, 6), 1.0, "`value_mask` must have shape"),
        ((3, 4, 6), None, "one", "`target` must be a number"),
    ],
)
def test_bad_inputs_are_named(attention_shape, mask_shape, target, message):
    attention = np.zeros(attention_shape, "float32")
    mask = None if mask_shape is None else np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=message):
        doubly_stochastic_penalty(attention, mask, target)
