"""`HardAttentionLoss` keeps a finite baseline whatever rewards it gets.

A reward of `-inf` (a target the model gives probability zero) or NaN used
to become the baseline, and every later loss was infinite.
"""

import numpy as np
import pytest

from keras_attention.layers import HardAttentionLoss
from tests.conftest import to_numpy


def call(layer, rewards, training=True):
    rewards = np.asarray(rewards, "float32")
    log_prob = np.full((len(rewards), 2), -0.5, "float32")
    entropy = np.ones((len(rewards), 2), "float32")
    return to_numpy(layer(rewards, log_prob, entropy, training=training))


def baseline(layer):
    return float(to_numpy(layer.baseline))


@pytest.mark.parametrize("bad", [-np.inf, np.inf, np.nan])
def test_a_non_finite_reward_stays_out_of_the_baseline(bad):
    layer = HardAttentionLoss(baseline_decay=0.5, entropy_weight=0.0)
    call(layer, [-2.0, -4.0])
    assert baseline(layer) == -3.0
    call(layer, [bad, -1.0])
    # 0.5 * -3 + 0.5 * mean(-1.0): the bad reward is not in the mean.
    assert baseline(layer) == -2.0
    later = call(layer, [-2.0, -3.0])
    assert np.isfinite(later).all()
    # advantage (R - b) times -sum(log_prob) = (R - b) * 1.0.
    np.testing.assert_allclose(later, [0.0, -1.0])


@pytest.mark.parametrize("bad", [-np.inf, np.nan])
def test_the_loss_of_a_non_finite_reward_is_its_entropy_term(bad):
    layer = HardAttentionLoss(baseline_decay=0.5, entropy_weight=0.1)
    loss = call(layer, [bad, -1.0])
    # No REINFORCE term for the bad reward: -0.1 * (1 + 1) only.
    np.testing.assert_allclose(loss[0], -0.2, rtol=1e-6)
    np.testing.assert_allclose(loss[1], -1.0 - 0.2, rtol=1e-6)


def test_a_batch_without_a_finite_reward_leaves_the_baseline():
    layer = HardAttentionLoss(baseline_decay=0.5, entropy_weight=0.0)
    call(layer, [-np.inf, np.nan])
    assert baseline(layer) == 0.0
    assert int(to_numpy(layer.initialized)) == 0
    call(layer, [-3.0])
    # The first finite batch still sets the baseline to its mean.
    assert baseline(layer) == -3.0
    call(layer, [-np.inf])
    assert baseline(layer) == -3.0


def test_an_empty_batch_leaves_the_baseline():
    layer = HardAttentionLoss(baseline_decay=0.5)
    call(layer, [-3.0])
    assert call(layer, []).shape == (0,)
    assert baseline(layer) == -3.0


def test_an_overflowing_update_leaves_the_baseline():
    layer = HardAttentionLoss(baseline_decay=0.5)
    call(layer, [-3.0])
    call(layer, [-3e38, -3e38])
    assert baseline(layer) == -3.0
