"""Masked positions are absent: no value or gradient depends on them.

The oracle is the same call with the masked positions set to zero (any
finite number would do): putting NaN or Inf there must change nothing.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_attention
from keras_attention.layers import masked_softmax
from tests.conftest import gradient
from tests.conftest import to_numpy

BATCH, QUERY_LENGTH, VALUE_LENGTH, DIM = 2, 3, 5, 8
VALUE_MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], bool)


def _layers():
    return {
        "bahdanau": keras_attention.BahdanauAttention(DIM),
        "luong_dot": keras_attention.LuongAttention("dot"),
        "luong_general": keras_attention.LuongAttention("general"),
        "luong_concat": keras_attention.LuongAttention("concat", units=DIM),
        "luong_local_p": keras_attention.LuongAttention(
            "general", alignment="local-p", window=1
        ),
        "multi_head": keras_attention.MultiHeadAttention(2, 4),
    }


@pytest.mark.parametrize("name", sorted(_layers()))
@pytest.mark.parametrize("poison", [np.nan, np.inf])
@pytest.mark.parametrize("return_weights", [False, True])
def test_poisoned_masked_values_change_no_output_or_gradient(
    name, poison, return_weights
):
    layer = _layers()[name]
    rng = np.random.default_rng(0)
    query = rng.normal(size=(BATCH, QUERY_LENGTH, DIM)).astype("float32")
    clean = rng.normal(size=(BATCH, VALUE_LENGTH, DIM)).astype("float32")
    clean[~VALUE_MASK] = 0.0
    poisoned = clean.copy()
    poisoned[~VALUE_MASK] = poison

    def attend(value):
        outputs = layer(
            query,
            value,
            value_mask=VALUE_MASK,
            return_attention_scores=return_weights,
        )
        # The fused multi-head kernel runs without weights, the explicit
        # one with them: both paths are checked.
        return outputs[0] if return_weights else outputs

    expected = to_numpy(attend(clean))
    actual = to_numpy(attend(poisoned))
    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
    grads = gradient(attend, poisoned)
    assert np.isfinite(grads).all()
    np.testing.assert_allclose(
        grads, gradient(attend, clean), rtol=1e-5, atol=1e-6
    )
    assert not grads[~VALUE_MASK].any()


@pytest.mark.parametrize("poison", [np.nan, np.inf])
def test_attention_rnn_ignores_poisoned_padding(poison):
    decoder = keras_attention.AttentionRNN(
        keras.layers.GRUCell(DIM), keras_attention.LuongAttention("general")
    )
    rng = np.random.default_rng(1)
    targets = rng.normal(size=(BATCH, QUERY_LENGTH, DIM)).astype("float32")
    clean = rng.normal(size=(BATCH, VALUE_LENGTH, DIM)).astype("float32")
    clean[~VALUE_MASK] = 0.0
    poisoned = clean.copy()
    poisoned[~VALUE_MASK] = poison

    def decode(memory):
        outputs, _, _ = decoder(targets, memory, memory_mask=VALUE_MASK)
        return outputs

    expected = to_numpy(decode(clean))
    actual = to_numpy(decode(poisoned))
    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
    grads = gradient(decode, poisoned)
    assert np.isfinite(grads).all()
    assert not grads[~VALUE_MASK].any()


def _numpy_softmax_over_unmasked(scores, mask):
    weights = np.zeros_like(scores, dtype=np.float64)
    for row in np.ndindex(scores.shape[:-1]):
        kept = mask[row]
        if kept.any():
            logits = scores[row][kept].astype(np.float64)
            exponentials = np.exp(logits - logits.max())
            weights[row][kept] = exponentials / exponentials.sum()
    return weights


@pytest.mark.parametrize("shift", [0.0, -1e9, -1e12, 1e12])
def test_masked_softmax_is_exact_for_any_finite_logits(shift):
    # Hand-worked: logits (1, 2) with the third masked give
    # (1 / (1 + e), e / (1 + e)) = (0.2689, 0.7311), whatever the shift.
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(3, 4, 6)).astype("float32") + shift
    mask = rng.random((3, 4, 6)) < 0.6
    mask[0, 0] = False
    weights = to_numpy(masked_softmax(scores, mask))
    np.testing.assert_allclose(
        weights, _numpy_softmax_over_unmasked(scores, mask), atol=1e-6
    )
    assert not weights[~mask].any()
    worked = np.array([[1.0, 2.0, 3.0]], "float32") + np.float32(shift)
    if abs(shift) < 1e7:  # float32 still resolves a difference of 1
        np.testing.assert_allclose(
            to_numpy(masked_softmax(worked, [[True, True, False]])),
            [[0.2689414, 0.7310586, 0.0]],
            atol=1e-6,
        )


def test_masked_softmax_gradient_ignores_nan_at_masked_positions():
    scores = np.array([[0.5, np.nan, -1.0, np.inf]], "float32")
    mask = np.array([[True, False, True, False]])

    def weights_of(x):
        return masked_softmax(x, mask) * ops.convert_to_tensor(
            np.array([[1.0, 2.0, 3.0, 4.0]], "float32")
        )

    grads = gradient(weights_of, scores)
    assert np.isfinite(grads).all()
    assert grads[0, 1] == 0.0 and grads[0, 3] == 0.0
