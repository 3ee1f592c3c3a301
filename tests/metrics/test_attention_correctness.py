import keras
import numpy as np
import pytest

from keras_attention.metrics import attention_correctness
from tests.conftest import to_numpy


def _oracle(attention, alignment, mask=None):
    """Per-head correctness, float64 loops: `[heads]` (one head for 3-D)."""
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim == 3:
        attention = attention[:, None]
    batch, num_heads, num_out, _ = attention.shape
    scores = []
    for head in range(num_heads):
        total, count = 0.0, 0
        for b in range(batch):
            for t in range(num_out):
                aligned = [j for j, r in enumerate(alignment[b][t]) if r]
                if not aligned or (mask is not None and not mask[b][t]):
                    continue
                total += sum(attention[b, head, t, j] for j in aligned)
                count += 1
        scores.append(total / count if count else 0.0)
    return np.array(scores)


def _random_case(seed, heads=None):
    rng = np.random.default_rng(seed)
    shape = (3, 5, 7) if heads is None else (3, heads, 5, 7)
    logits = rng.normal(size=shape)
    attention = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    alignment = rng.random((3, 5, 7)) < 0.2
    alignment[0, 1] = False  # a step without a reference
    alignment[1, 2] = False
    mask = rng.random((3, 5)) < 0.7
    mask[:, 0] = True
    return attention.astype("float32"), alignment, mask


def test_hand_worked_example():
    attention = np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]], "float32")
    one_step = np.array([[[1, 0, 0], [0, 0, 0]]])
    two_steps = np.array([[[1, 0, 0], [0, 1, 1]]])

    # Step 1 has no reference and is skipped: 0.7 alone.
    assert float(attention_correctness(attention, one_step)) == (
        pytest.approx(0.7)
    )
    # (0.7 + (0.3 + 0.6)) / 2.
    assert float(attention_correctness(attention, two_steps)) == (
        pytest.approx(0.8)
    )
    # Masking out step 0 leaves 0.9.
    mask = np.array([[False, True]])
    assert float(attention_correctness(attention, two_steps, mask)) == (
        pytest.approx(0.9)
    )


@pytest.mark.parametrize("use_mask", [False, True], ids=["no_mask", "mask"])
def test_matches_oracle_single_map(use_mask):
    attention, alignment, mask = _random_case(0)
    mask = mask if use_mask else None

    score = attention_correctness(attention, alignment, mask=mask)

    assert tuple(score.shape) == ()
    assert keras.backend.standardize_dtype(score.dtype) == "float32"
    np.testing.assert_allclose(
        to_numpy(score), _oracle(attention, alignment, mask)[0], rtol=1e-5
    )


def test_matches_oracle_per_head():
    attention, alignment, mask = _random_case(1, heads=4)
    expected = _oracle(attention, alignment, mask)

    per_head = attention_correctness(attention, alignment, mask, heads=None)
    mean = attention_correctness(attention, alignment, mask, heads="mean")
    best = attention_correctness(attention, alignment, mask, heads="best")
    averaged_map = attention_correctness(
        attention.mean(axis=1), alignment, mask
    )

    assert tuple(per_head.shape) == (4,)
    np.testing.assert_allclose(to_numpy(per_head), expected, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(mean), expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(best), expected.max(), rtol=1e-5)
    # Mean of per-head scores == score of the head-averaged map.
    np.testing.assert_allclose(
        to_numpy(averaged_map), expected.mean(), rtol=1e-5
    )


def test_numeric_alignment_tensor_inputs_and_half_precision():
    attention, alignment, mask = _random_case(2, heads=2)
    expected = _oracle(attention, alignment, mask).mean()

    score = attention_correctness(
        keras.ops.convert_to_tensor(attention, "float16"),
        keras.ops.convert_to_tensor(alignment.astype("int32")),
        mask=mask.astype("float32"),
    )

    assert keras.backend.standardize_dtype(score.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(score), expected, rtol=2e-3)


def test_nan_weights_off_reference_and_no_reference_give_zero():
    attention = np.array([[[0.6, np.nan, 0.4], [np.nan, np.nan, np.nan]]])
    alignment = np.array([[[1, 0, 1], [0, 0, 0]]], bool)

    assert float(attention_correctness(attention, alignment)) == (
        pytest.approx(1.0)
    )
    # No step with a reference: 0.0, not NaN.
    assert float(attention_correctness(attention, alignment * False)) == 0.0
    assert float(
        attention_correctness(attention, alignment, mask=[[False, True]])
    ) == (0.0)


@pytest.mark.parametrize(
    "attention_shape, alignment_shape, mask_shape, message",
    [
        ((5, 7), (5, 7), None, r"`attention` must have shape.*\(5, 7\)"),
        ((1, 2, 2, 5, 7), (2, 5, 7), None, "`attention` must have shape"),
        ((2, 5, 7), (2, 5, 6), None, r"`alignment`.*\(2, 5, 7\).*\(2, 5, 6\)"),
        ((2, 3, 5, 7), (2, 3, 5, 7), None, r"`alignment`.*\(2, 5, 7\)"),
        ((2, 5, 7), (1, 5, 7), None, "`alignment` must have shape"),
        ((2, 5, 7), (2, 5, 7), (2, 4), r"`mask`.*\(2, 5\).*\(2, 4\)"),
    ],
)
def test_bad_shapes_raise(
    attention_shape, alignment_shape, mask_shape, message
):
    mask = None if mask_shape is None else np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=message):
        attention_correctness(
            np.ones(attention_shape), np.ones(alignment_shape), mask=mask
        )


@pytest.mark.parametrize("heads", ["max", "all", 0])
def test_bad_heads_raises(heads):
    with pytest.raises(ValueError, match="`heads` must be one of"):
        attention_correctness(
            np.ones((1, 2, 1, 3)), np.ones((1, 1, 3)), heads=heads
        )
