"""`attention_correctness` of empty inputs is 0.0, as its docstring says."""

import numpy as np
import pytest

from keras_attention.metrics import attention_correctness
from tests.conftest import to_numpy

EMPTY_SHAPES = [(0, 2, 3), (1, 0, 3), (1, 2, 0), (0, 0, 0)]


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
def test_empty_inputs_score_zero(shape):
    attention = np.zeros(shape, "float32")
    assert float(to_numpy(attention_correctness(attention, attention))) == 0


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
def test_empty_inputs_with_a_mask_score_zero(shape):
    attention = np.zeros(shape, "float32")
    mask = np.ones(shape[:2], bool)
    score = attention_correctness(attention, attention, mask=mask)
    assert float(to_numpy(score)) == 0


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
@pytest.mark.parametrize("heads", ["mean", "best", None])
def test_empty_per_head_inputs_score_zero(shape, heads):
    alignment = np.zeros(shape, "float32")
    attention = np.zeros((shape[0], 2) + shape[1:], "float32")
    score = to_numpy(attention_correctness(attention, alignment, heads=heads))
    expected = np.zeros((2,) if heads is None else ())
    np.testing.assert_array_equal(score, expected)


@pytest.mark.parametrize("heads", ["mean", "best", None])
def test_zero_heads_score_zero(heads):
    alignment = np.ones((1, 2, 3), "float32")
    attention = np.zeros((1, 0, 2, 3), "float32")
    score = to_numpy(attention_correctness(attention, alignment, heads=heads))
    expected = np.zeros((0,) if heads is None else ())
    np.testing.assert_array_equal(score, expected)


def test_nonempty_batch_still_scores_its_steps():
    attention = np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]], "float32")
    alignment = np.array([[[1, 0, 0], [0, 1, 1]]])
    score = to_numpy(attention_correctness(attention, alignment))
    np.testing.assert_allclose(score, 0.8, rtol=1e-6)
