import keras
import numpy as np
import pytest

from keras_attention.layers import BahdanauAttention
from tests.conftest import to_numpy
from tests.layers import numpy_reference
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error


def make_inputs(seed=0, batch=3, tq=4, tv=6, dq=5, dv=7):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tq, dq)).astype("float32")
    value = rng.normal(size=(batch, tv, dv)).astype("float32")
    value_mask = np.ones((batch, tv), bool)
    value_mask[1, 4:] = False
    value_mask[2, 1:] = False
    return query, value, value_mask


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("use_bias", [False, True])
def test_matches_paper_equations(normalize, use_bias):
    query, value, value_mask = make_inputs()
    layer = BahdanauAttention(8, normalize=normalize, use_bias=use_bias)
    layer(query, value, value_mask=value_mask)
    randomize_weights(layer)
    context, weights = layer(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    w = named_weights(layer)
    expected_context, expected_weights = numpy_reference.bahdanau(
        query.astype("float64"),
        value.astype("float64"),
        value.astype("float64"),
        value_mask,
        w["query_projection/kernel"],
        w["key_projection/kernel"],
        w["score_vector"],
        w.get("score_bias"),
        w.get("score_scale"),
    )
    assert relative_error(to_numpy(weights), expected_weights) < 1e-5
    assert relative_error(to_numpy(context), expected_context) < 1e-5
    assert np.all(
        to_numpy(weights)[
            ~np.broadcast_to(value_mask[:, None], expected_weights.shape)
        ]
        == 0.0
    )


def test_separate_key_and_single_step_query():
    query, value, value_mask = make_inputs(seed=1)
    key = np.random.default_rng(2).normal(size=value.shape[:2] + (3,))
    key = key.astype("float32")
    layer = BahdanauAttention(4)
    context, weights = layer(
        query,
        value,
        key=key,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    step_context, step_weights = layer(
        query[:, 2],
        value,
        key=key,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    w = named_weights(layer)
    expected_context, _ = numpy_reference.bahdanau(
        query.astype("float64"),
        key.astype("float64"),
        value.astype("float64"),
        value_mask,
        w["query_projection/kernel"],
        w["key_projection/kernel"],
        w["score_vector"],
        w["score_bias"],
    )
    assert relative_error(to_numpy(context), expected_context) < 1e-5
    assert step_context.shape == (3, 7)
    assert step_weights.shape == (3, 6)
    np.testing.assert_allclose(
        to_numpy(step_context), to_numpy(context)[:, 2], rtol=1e-5, atol=1e-6
    )


def test_equals_two_dense_and_keras_additive_attention():
    query, value, value_mask = make_inputs(seed=3)
    layer = BahdanauAttention(8, use_bias=False)
    layer(query, value)
    randomize_weights(layer, seed=4)
    w = named_weights(layer)
    query_dense = keras.layers.Dense(8, use_bias=False)
    key_dense = keras.layers.Dense(8, use_bias=False)
    additive = keras.layers.AdditiveAttention(use_scale=True)
    projected_query = query_dense(query)
    projected_key = key_dense(value)
    additive([projected_query, value, projected_key])
    query_dense.set_weights([w["query_projection/kernel"]])
    key_dense.set_weights([w["key_projection/kernel"]])
    additive.set_weights([w["score_vector"]])
    expected = additive(
        [query_dense(query), value, key_dense(value)],
        mask=[None, value_mask],
    )
    actual = layer(query, value, value_mask=value_mask)
    np.testing.assert_allclose(
        to_numpy(actual), to_numpy(expected), rtol=1e-5, atol=1e-5
    )


def test_precomputed_memory_gives_same_result():
    query, value, value_mask = make_inputs(seed=5)
    layer = BahdanauAttention(6)
    direct = layer(query, value, value_mask=value_mask)
    memory = layer.precompute_memory(value, value_mask=value_mask)
    assert set(memory) == {"key", "value", "value_mask"}
    via_memory = layer(query, memory)
    np.testing.assert_allclose(
        to_numpy(via_memory), to_numpy(direct), rtol=1e-6, atol=1e-6
    )


def test_precompute_memory_before_first_call_builds_layer():
    query, value, _ = make_inputs(seed=6)
    layer = BahdanauAttention(6)
    memory = layer.precompute_memory(value)
    output = layer(query[:, 0], memory)
    assert output.shape == (3, 7)
    assert len(layer.trainable_weights) == 4


@pytest.mark.parametrize("units", [0, -3, 2.5, None])
def test_bad_units(units):
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        BahdanauAttention(units)
