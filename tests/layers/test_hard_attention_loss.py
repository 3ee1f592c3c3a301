"""`HardAttentionLoss`: REINFORCE for hard attention (Xu et al., eqs 10-12).

The attention here is `alpha = softmax(theta)`, sampled with NumPy, so the
gradients can be derived by hand: d log alpha_s / d theta = onehot_s - alpha
and d H(alpha) / d theta = -alpha (log alpha + H).
"""

import keras
import numpy as np
import pytest

from keras_attention.layers import HardAttentionLoss
from tests.conftest import gradient
from tests.conftest import to_numpy


def softmax(theta):
    exp = np.exp(theta - theta.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def surrogate(layer, theta, locations, rewards, training=None):
    """The layer's loss for alpha = softmax(theta), one step per example."""
    log_alpha = keras.ops.log_softmax(theta, axis=-1)
    one_hot = keras.ops.one_hot(locations, 3)
    log_prob = keras.ops.sum(one_hot * log_alpha, axis=-1, keepdims=True)
    entropy = -keras.ops.sum(
        keras.ops.exp(log_alpha) * log_alpha, axis=-1, keepdims=True
    )
    return layer(rewards, log_prob, entropy, training=training)


def built_layer(baseline, **options):
    layer = HardAttentionLoss(**options)
    layer.build((None,), (None, 1), (None, 1))
    layer.baseline.assign(baseline)
    return layer


def test_single_sample_gradient_is_the_hand_derived_one():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(4, 3)).astype("float32")
    locations = np.array([0, 2, 1, 2])
    rewards = np.array([-1.5, 0.3, -4.0, 2.0], "float32")
    baseline, entropy_weight = 0.25, 0.1
    layer = built_layer(baseline, entropy_weight=entropy_weight)
    grad = gradient(lambda t: surrogate(layer, t, locations, rewards), theta)
    alpha = softmax(theta.astype("float64"))
    one_hot = np.eye(3)[locations]
    entropy = -(alpha * np.log(alpha)).sum(-1, keepdims=True)
    expected = -(rewards[:, None] - baseline) * (one_hot - alpha)
    expected += entropy_weight * alpha * (np.log(alpha) + entropy)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_reward_gradient_is_stopped():
    rewards = np.array([1.0, -2.0], "float32")
    layer = built_layer(0.0)
    log_prob = np.full((2, 3), -0.5, "float32")
    entropy = np.ones((2, 3), "float32")
    # Plus R itself, so that the gradient exists on every backend: 1 if the
    # loss stops R's gradient, 1 - sum_t log_prob_t = 2.5 if it does not.
    grad = gradient(lambda r: layer(r, log_prob, entropy) + r, rewards)
    np.testing.assert_array_equal(grad, [1.0, 1.0])


def test_average_gradient_approaches_the_exact_gradient():
    # For alpha = softmax(theta) and rewards r[s], the exact gradient of
    # -E[R] = -sum_s r_s alpha_s is -alpha_k (r_k - sum_s r_s alpha_s).
    samples = 100_000
    theta = np.array([0.2, -0.5, 1.0])
    rewards_table = np.array([1.0, -2.0, 3.0])
    baseline = 0.5
    alpha = softmax(theta)
    exact = -alpha * (rewards_table - (rewards_table * alpha).sum())
    rng = np.random.default_rng(1)
    locations = rng.choice(3, size=samples, p=alpha)
    rewards = rewards_table[locations].astype("float32")
    layer = built_layer(baseline, entropy_weight=0.0)
    thetas = np.tile(theta.astype("float32"), (samples, 1))
    per_sample = gradient(
        lambda t: surrogate(layer, t, locations, rewards), thetas
    )
    estimate = per_sample.mean(0)
    # Each component of a sample's gradient (R - b)(onehot - alpha) lies
    # within max|r - b| = 2.5 of zero, so its standard deviation is at
    # most 2.5 and that of the mean at most 2.5 / sqrt(N) = 0.0079: five
    # of those bound the error (the gradients are 0.21, 0.48 and -0.69).
    tolerance = 5 * np.abs(rewards_table - baseline).max() / np.sqrt(samples)
    np.testing.assert_allclose(estimate, exact, atol=tolerance)


def test_baseline_follows_the_moving_average_in_training_only():
    rng = np.random.default_rng(2)
    log_prob = -np.abs(rng.normal(size=(3, 4))).astype("float32")
    entropy = np.abs(rng.normal(size=(3, 4))).astype("float32")
    rewards = [
        np.array([-3.0, -1.0, -2.0], "float32"),
        np.array([-6.0, -3.0, -3.0], "float32"),
        np.array([9.0, 9.0, 9.0], "float32"),
    ]
    layer = HardAttentionLoss(baseline_decay=0.9, entropy_weight=0.05)

    def expected_loss(reward, baseline):
        return -(reward - baseline) * log_prob.sum(-1) - 0.05 * entropy.sum(-1)

    # The first training call uses b = 0, then sets b = mean(R) = -2.
    loss = layer(rewards[0], log_prob, entropy, training=True)
    np.testing.assert_allclose(
        to_numpy(loss), expected_loss(rewards[0], 0.0), rtol=1e-6
    )
    assert float(to_numpy(layer.baseline)) == pytest.approx(-2.0)
    assert int(to_numpy(layer.initialized)) == 1
    # Then b <- 0.9 b + 0.1 mean(R) = 0.9 (-2) + 0.1 (-4) = -2.2.
    loss = layer(rewards[1], log_prob, entropy, training=True)
    np.testing.assert_allclose(
        to_numpy(loss), expected_loss(rewards[1], -2.0), rtol=1e-6
    )
    assert float(to_numpy(layer.baseline)) == pytest.approx(-2.2)
    # Outside training the baseline is used, not updated.
    for training in (False, None):
        loss = layer(rewards[2], log_prob, entropy, training=training)
        np.testing.assert_allclose(
            to_numpy(loss), expected_loss(rewards[2], -2.2), rtol=1e-6
        )
        assert float(to_numpy(layer.baseline)) == pytest.approx(-2.2)


def reinforce_model():
    """Attention logits from features; the sampled locations are inputs."""
    features = keras.Input((4,), name="features")
    locations = keras.Input((2, 3), name="one_hot_locations")
    rewards = keras.Input((), name="rewards")
    theta = keras.layers.Dense(6, name="theta")(features)
    theta = keras.layers.Reshape((2, 3))(theta)
    log_alpha = keras.ops.log_softmax(theta, axis=-1)
    log_prob = keras.ops.sum(locations * log_alpha, axis=-1)
    entropy = -keras.ops.sum(keras.ops.exp(log_alpha) * log_alpha, axis=-1)
    loss = HardAttentionLoss(name="reinforce")(rewards, log_prob, entropy)
    return keras.Model([features, locations, rewards], loss)


def reinforce_data(seed=3):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(8, 4)).astype("float32")
    locations = np.eye(3, dtype="float32")[rng.integers(0, 3, size=(8, 2))]
    rewards = rng.normal(loc=-2.0, size=(8,)).astype("float32")
    return [features, locations, rewards]


def test_baseline_updates_inside_fit():
    data = reinforce_data()
    model = reinforce_model()
    model.compile(
        optimizer="sgd",
        loss=lambda _, surrogate_loss: surrogate_loss,
        jit_compile=keras.backend.backend() != "torch",
    )
    kernel = to_numpy(model.get_layer("theta").kernel).copy()
    model.fit(
        data,
        np.zeros(8, "float32"),
        batch_size=4,
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    layer = model.get_layer("reinforce")
    first, second = data[2][:4].mean(), data[2][4:].mean()
    np.testing.assert_allclose(
        float(to_numpy(layer.baseline)), 0.9 * first + 0.1 * second, rtol=1e-5
    )
    assert int(to_numpy(layer.initialized)) == 1
    assert not np.array_equal(kernel, to_numpy(model.get_layer("theta").kernel))


def test_save_and_load_keep_the_baseline(tmp_path):
    data = reinforce_data(seed=4)
    model = reinforce_model()
    model.get_layer("reinforce")(
        data[2],
        np.zeros((8, 2), "float32"),
        np.zeros((8, 2), "float32"),
        training=True,
    )
    expected = to_numpy(model(data))
    model.save(tmp_path / "reinforce.keras")
    restored = keras.saving.load_model(tmp_path / "reinforce.keras")
    np.testing.assert_array_equal(to_numpy(restored(data)), expected)
    layer = restored.get_layer("reinforce")
    np.testing.assert_allclose(
        float(to_numpy(layer.baseline)), data[2].mean(), rtol=1e-6
    )
    config = layer.get_config()
    assert HardAttentionLoss.from_config(config).get_config() == config


def test_mixed_precision_computes_in_float32():
    keras.config.set_dtype_policy("mixed_float16")
    layer = HardAttentionLoss()
    log_prob = np.full((2, 3), -1.0001, "float32")
    loss = layer(
        np.array([-1000.5, 2.0], "float32"),
        log_prob,
        np.zeros((2, 3), "float32"),
        training=True,
    )
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    # float16 would round -1000.5 * 3.0003 to a multiple of 2.
    np.testing.assert_allclose(
        to_numpy(loss), [-1000.5 * 3.0003, 2.0 * 3.0003], rtol=1e-6
    )
    assert float(to_numpy(layer.baseline)) == pytest.approx(-499.25)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"baseline_decay": 1.0}, r"`baseline_decay` must be a float in \[0"),
        ({"baseline_decay": -0.1}, "`baseline_decay` must be a float"),
        ({"baseline_decay": "fast"}, "`baseline_decay` must be a float"),
        ({"entropy_weight": -0.01}, "`entropy_weight` must be a non-neg"),
        ({"entropy_weight": None}, "`entropy_weight` must be a non-neg"),
    ],
)
def test_bad_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        HardAttentionLoss(**options)


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((3, 1), (3, 4), (3, 4)), "`log_likelihood` must have rank 1"),
        (((3,), (3,), (3, 4)), "`log_prob` must have rank 2"),
        (((3,), (3, 4), (3, 4, 1)), "`entropy` must have rank 2"),
        (((2,), (3, 4), (3, 4)), "must agree in batch size and steps"),
        (((3,), (3, 4), (3, 5)), "must agree in batch size and steps"),
    ],
)
def test_bad_shapes_are_named(shapes, message):
    arrays = [np.zeros(shape, "float32") for shape in shapes]
    with pytest.raises(ValueError, match=message):
        HardAttentionLoss()(*arrays)
