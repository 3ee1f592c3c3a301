"""`coverage_loss`: equation 12 of See et al. (2017)."""

import keras
import numpy as np
import pytest

import keras_attention
from keras_attention.losses import coverage_loss
from tests.conftest import gradient
from tests.conftest import to_numpy


def coverage_loss_oracle(attention, mask=None):
    """Mean over real steps t of sum_i min(a_i^t, c_i^t), c^t = sum_{t'<t}."""
    attention = np.asarray(attention, "float64")
    batch, steps, positions = attention.shape
    if mask is None:
        mask = np.ones((batch, steps), bool)
    losses = np.zeros(batch)
    for n in range(batch):
        coverage = np.zeros(positions)
        total, count = 0.0, 0
        for t in range(steps):
            if not mask[n, t]:
                continue
            total += sum(
                min(attention[n, t, i], coverage[i]) for i in range(positions)
            )
            count += 1
            coverage = coverage + attention[n, t]
        losses[n] = total / count if count else 0.0
    return losses


def random_attention(shape, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=shape) * 2.0
    weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return weights.astype("float32")


def test_exported_as_keras_attention_losses():
    assert keras_attention.losses.coverage_loss is coverage_loss
    assert "doubly_stochastic_penalty" in keras_attention.losses.__all__


def test_hand_worked_examples():
    # Step 1 has no coverage: 0. Step 2: coverage [0.5, 0.5, 0], attention
    # [0.5, 0, 0.5]: min = 0.5 + 0 + 0 = 0.5. Mean over 2 steps: 0.25.
    attention = np.array([[[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]], "float32")
    np.testing.assert_allclose(to_numpy(coverage_loss(attention)), [0.25])
    # Three steps: [1, 0], [0.2, 0.8], [0.6, 0.4]. Coverage before step 2
    # is [1, 0]: min = 0.2 + 0 = 0.2; before step 3 it is [1.2, 0.8]:
    # min = 0.6 + 0.4 = 1. Mean: 1.2 / 3 = 0.4.
    attention = np.array([[[1.0, 0.0], [0.2, 0.8], [0.6, 0.4]]] * 2, "float32")
    # Masking step 2 of the second example: step 3 sees coverage [1, 0]:
    # min = 0.6 + 0 = 0.6, over 2 real steps: 0.3.
    mask = np.array([[True, True, True], [True, False, True]])
    np.testing.assert_allclose(
        to_numpy(coverage_loss(attention, mask)), [0.4, 0.3], rtol=1e-6
    )
    # Attention that never returns to a position costs nothing.
    diagonal = np.eye(3, dtype="float32")[None]
    np.testing.assert_array_equal(to_numpy(coverage_loss(diagonal)), [0.0])


def test_matches_numpy_loop_with_masks():
    attention = random_attention((4, 5, 6), seed=1)
    mask = np.ones((4, 5), bool)
    mask[0, 3:] = False  # right padding
    mask[1, 1] = False  # a hole
    mask[2, :] = False  # no real step at all
    losses = coverage_loss(attention, mask)
    assert tuple(losses.shape) == (4,)
    assert keras.backend.standardize_dtype(losses.dtype) == "float32"
    expected = coverage_loss_oracle(attention, mask)
    np.testing.assert_allclose(to_numpy(losses), expected, rtol=1e-5)
    assert to_numpy(losses)[2] == 0.0
    # The hole matters: counting step 1 would change the loss.
    assert abs(coverage_loss_oracle(attention)[1] - expected[1]) > 1e-3
    np.testing.assert_allclose(
        to_numpy(coverage_loss(attention)),
        coverage_loss_oracle(attention),
        rtol=1e-5,
    )


def test_padded_steps_with_any_weights_add_nothing():
    attention = random_attention((2, 3, 5), seed=2)
    # Padded steps hold the repeated weights of the last real step, as the
    # `AttentionRNN` loop returns them.
    padded = np.concatenate(
        [attention, attention[:, -1:], attention[:, -1:]], 1
    )
    mask = np.array([[True] * 3 + [False] * 2] * 2)
    np.testing.assert_allclose(
        to_numpy(coverage_loss(padded, mask)),
        to_numpy(coverage_loss(attention)),
        rtol=1e-6,
    )


def test_gradient_is_finite_and_matches_the_derivative():
    attention = random_attention((2, 4, 5), seed=3)
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    grad = gradient(lambda a: coverage_loss(a, mask), attention)
    assert np.isfinite(grad).all()
    # d/d a_i^t of (1/T) sum_s min(a_i^s, c_i^s): 1/T where a_i^t is the
    # smaller (strictly, for random weights), plus 1/T for every later step
    # s whose coverage c_i^s (which holds a_i^t) is the smaller.
    a = attention.astype("float64")
    expected = np.zeros_like(a)
    for n in range(2):
        steps = np.flatnonzero(mask[n])
        coverage = np.concatenate(
            [np.zeros((1, 5)), np.cumsum(a[n, steps], 0)[:-1]], 0
        )
        for k, t in enumerate(steps):
            expected[n, t] += a[n, t] < coverage[k]
            for later in range(k + 1, len(steps)):
                expected[n, t] += coverage[later] < a[n, steps[later]]
        expected[n] /= len(steps)
    np.testing.assert_allclose(grad, expected, atol=1e-6)
    assert np.all(grad[0, 3] == 0.0)


def test_half_precision_attention_is_summed_in_float32():
    attention = random_attention((2, 30, 8), seed=4).astype("float16")
    losses = coverage_loss(attention)
    assert keras.backend.standardize_dtype(losses.dtype) == "float32"
    np.testing.assert_allclose(
        to_numpy(losses), coverage_loss_oracle(attention), rtol=1e-5
    )


@pytest.mark.parametrize(
    "attention_shape, mask_shape, message",
    [
        ((3, 6), None, r"`attention` must have rank 3.*shape=\(3, 6\)"),
        ((3, 2, 4, 6), None, r"`attention` must have rank 3"),
        ((3, 4, 6), (3, 6), r"`mask` must have shape \(3, 4\).*\(3, 6\)"),
        ((3, 4, 6), (4,), r"`mask` must have shape \(3, 4\)"),
    ],
)
def test_bad_inputs_are_named(attention_shape, mask_shape, message):
    attention = np.zeros(attention_shape, "float32")
    mask = None if mask_shape is None else np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=message):
        coverage_loss(attention, mask)
