"""`BahdanauAttention(coverage=True)`: the score of See et al., equation 11."""

import keras
import numpy as np
import pytest

from keras_attention.layers import BahdanauAttention
from tests.conftest import gradient
from tests.conftest import to_numpy
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error


def coverage_attention(query, keys, values, value_mask, coverage, w):
    """See et al. 2017, equations 11 and 2, in NumPy float64.

    `e_ij = v^T tanh(W_h h_j + W_s s_i + w_c c_ij + b_attn)`, a softmax over
    the unmasked `j`, and the context `sum_j a_ij h_j`.
    """
    W_s, W_h = w["query_projection/kernel"], w["key_projection/kernel"]
    v, w_c, b = w["score_vector"], w["coverage_vector"], w["score_bias"]
    batch, tq, _ = query.shape
    tv = keys.shape[1]
    weights = np.zeros((batch, tq, tv))
    for n in range(batch):
        for i in range(tq):
            scores = np.full(tv, -np.inf)
            for j in range(tv):
                if value_mask[n, j]:
                    hidden = (
                        W_h.T @ keys[n, j]
                        + W_s.T @ query[n, i]
                        + w_c * coverage[n, i, j]
                        + b
                    )
                    scores[j] = v @ np.tanh(hidden)
            exp = np.exp(scores - scores.max())
            weights[n, i] = exp / exp.sum()
    return np.einsum("bij,bjd->bid", weights, values), weights


def make_inputs(seed=0, batch=3, tq=4, tv=6, dq=5, dv=7):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tq, dq)).astype("float32")
    value = rng.normal(size=(batch, tv, dv)).astype("float32")
    value_mask = np.ones((batch, tv), bool)
    value_mask[1, 4:] = False
    # Coverage: sums of earlier attention, so nonnegative and up to a few.
    coverage = rng.uniform(0.0, 2.0, size=(batch, tq, tv)).astype("float32")
    return query, value, value_mask, coverage


def built_layer(query, value, value_mask, seed=0, **kwargs):
    layer = BahdanauAttention(8, coverage=True, **kwargs)
    layer(query, value, value_mask=value_mask)
    randomize_weights(layer, seed=seed)
    return layer


def test_sequence_query_matches_equation_11():
    query, value, value_mask, coverage = make_inputs()
    layer = built_layer(query, value, value_mask)
    context, weights = layer(
        query,
        value,
        value_mask=value_mask,
        coverage=coverage,
        return_attention_scores=True,
    )
    expected_context, expected_weights = coverage_attention(
        query.astype("float64"),
        value.astype("float64"),
        value.astype("float64"),
        value_mask,
        coverage.astype("float64"),
        named_weights(layer),
    )
    assert relative_error(to_numpy(weights), expected_weights) < 1e-5
    assert relative_error(to_numpy(context), expected_context) < 1e-5
    assert np.all(to_numpy(weights)[1, :, 4:] == 0.0)
    # The coverage term matters: without it the weights are others.
    without = layer(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    assert relative_error(to_numpy(without[1]), expected_weights) > 1e-2


def test_one_step_query_with_precomputed_memory_matches_equation_11():
    query, value, value_mask, coverage = make_inputs(seed=1)
    layer = built_layer(query, value, value_mask, seed=1)
    memory = layer.precompute_memory(value, value_mask=value_mask)
    keys_before = sorted(memory)
    w = named_weights(layer)
    for i in range(query.shape[1]):
        context, weights = layer(
            query[:, i],
            memory,
            coverage=coverage[:, i],
            return_attention_scores=True,
        )
        assert tuple(weights.shape) == (3, 6)
        expected_context, expected_weights = coverage_attention(
            query[:, i : i + 1].astype("float64"),
            value.astype("float64"),
            value.astype("float64"),
            value_mask,
            coverage[:, i : i + 1].astype("float64"),
            w,
        )
        assert relative_error(to_numpy(weights), expected_weights[:, 0]) < 1e-5
        assert relative_error(to_numpy(context), expected_context[:, 0]) < 1e-5
    # The coverage goes into the score, not into the caller's memory.
    assert sorted(memory) == keys_before == ["key", "value", "value_mask"]


def test_missing_coverage_is_zero_coverage():
    query, value, value_mask, _ = make_inputs(seed=2)
    layer = built_layer(query, value, value_mask, seed=2)
    w = named_weights(layer)
    _, expected = coverage_attention(
        query.astype("float64"),
        value.astype("float64"),
        value.astype("float64"),
        value_mask,
        np.zeros((3, 4, 6)),
        w,
    )
    _, weights = layer(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    _, zeros = layer(
        query,
        value,
        value_mask=value_mask,
        coverage=np.zeros((3, 4, 6), "float32"),
        return_attention_scores=True,
    )
    assert relative_error(to_numpy(weights), expected) < 1e-5
    np.testing.assert_allclose(to_numpy(weights), to_numpy(zeros), atol=1e-7)


def test_coverage_vector_starts_different_from_the_score_vector():
    query, value, value_mask, _ = make_inputs()
    for initializer in ("glorot_uniform", keras.initializers.HeNormal(3)):
        layer = BahdanauAttention(
            16, coverage=True, kernel_initializer=initializer
        )
        layer(query, value, value_mask=value_mask)
        w = named_weights(layer)
        v, w_c = w["score_vector"], w["coverage_vector"]
        assert w_c.shape == (16,)
        assert np.abs(w_c).max() > 0
        # Neither equal nor proportional.
        cosine = v @ w_c / (np.linalg.norm(v) * np.linalg.norm(w_c))
        assert abs(cosine) < 0.99
    # Without coverage the layer keeps the weights it always had.
    plain = BahdanauAttention(8)
    plain(query, value, value_mask=value_mask)
    assert sorted(named_weights(plain)) == [
        "key_projection/kernel",
        "query_projection/kernel",
        "score_bias",
        "score_vector",
    ]


def test_gradient_reaches_the_coverage():
    query, value, value_mask, coverage = make_inputs(seed=3)
    layer = built_layer(query, value, value_mask, seed=3)

    def weights_of(coverage_tensor):
        _, weights = layer(
            query,
            value,
            value_mask=value_mask,
            coverage=coverage_tensor,
            return_attention_scores=True,
        )
        # A weighted sum, since the plain sum of the weights is constant.
        return weights * keras.ops.arange(6, dtype="float32")

    grad = gradient(weights_of, coverage)
    assert np.isfinite(grad).all()
    assert np.abs(grad[0]).sum() > 0
    # Masked positions get no weight whatever their coverage.
    assert np.all(grad[1, :, 4:] == 0.0)


def test_config_round_trip_keeps_coverage():
    query, value, value_mask, coverage = make_inputs(seed=4)
    layer = built_layer(query, value, value_mask, seed=4)
    config = layer.get_config()
    assert config["coverage"] is True
    restored = BahdanauAttention.from_config(config)
    restored(query, value, value_mask=value_mask)
    restored.set_weights(layer.get_weights())
    expected = layer(query, value, value_mask=value_mask, coverage=coverage)
    actual = restored(query, value, value_mask=value_mask, coverage=coverage)
    np.testing.assert_array_equal(to_numpy(actual), to_numpy(expected))
    assert BahdanauAttention(4).get_config()["coverage"] is False


def test_functional_model_with_coverage_input(tmp_path):
    query, value, value_mask, coverage = make_inputs(seed=5)
    inputs = [
        keras.Input((4, 5)),
        keras.Input((6, 7)),
        keras.Input((6,), dtype="bool"),
        keras.Input((4, 6)),
    ]
    layer = BahdanauAttention(8, coverage=True)
    context, weights = layer(
        inputs[0],
        inputs[1],
        value_mask=inputs[2],
        coverage=inputs[3],
        return_attention_scores=True,
    )
    assert tuple(context.shape) == (None, 4, 7)
    assert tuple(weights.shape) == (None, 4, 6)
    model = keras.Model(inputs, [context, weights])
    data = [query, value, value_mask, coverage]
    eager = [to_numpy(x) for x in model(data)]
    model.save(tmp_path / "coverage.keras")
    restored = keras.saving.load_model(tmp_path / "coverage.keras")
    for actual, expected in zip(restored(data), eager, strict=True):
        np.testing.assert_array_equal(to_numpy(actual), expected)
    if keras.backend.backend() == "torch":
        return  # jit_compile on torch means torch.compile (dynamo)
    model.compile(jit_compile=True)
    for actual, expected in zip(
        model.predict(data, verbose=0), eager, strict=True
    ):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_mixed_precision_coverage():
    query, value, value_mask, coverage = make_inputs(seed=6)
    reference = built_layer(query, value, value_mask, seed=6)
    _, expected = reference(
        query,
        value,
        value_mask=value_mask,
        coverage=coverage,
        return_attention_scores=True,
    )
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = BahdanauAttention(8, coverage=True)
    layer(query, value, value_mask=value_mask)
    layer.set_weights(reference.get_weights())
    context, weights = layer(
        query,
        value,
        value_mask=value_mask,
        coverage=coverage,
        return_attention_scores=True,
    )
    assert keras.backend.standardize_dtype(context.dtype) == "bfloat16"
    weights = to_numpy(weights).astype("float32")
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-2)
    np.testing.assert_allclose(weights, to_numpy(expected), atol=3e-2)


@pytest.mark.parametrize(
    "query_shape, coverage_shape, message",
    [
        (
            (3, 4, 5),
            (3, 6),
            r"`coverage` must have shape \(3, 4, 6\) \(\[batch, Tq, Tv\].*"
            r"Received: coverage.shape=\(3, 6\)",
        ),
        (
            (3, 4, 5),
            (3, 4, 5),
            r"`coverage` must have shape \(3, 4, 6\).*"
            r"Received: coverage.shape=\(3, 4, 5\)",
        ),
        (
            (3, 5),
            (3, 4, 6),
            r"`coverage` must have shape \(3, 6\) \(\[batch, Tv\].*"
            r"Received: coverage.shape=\(3, 4, 6\)",
        ),
        (
            (3, 5),
            (2, 6),
            r"`coverage` must have shape \(3, 6\).*"
            r"Received: coverage.shape=\(2, 6\)",
        ),
    ],
)
def test_bad_coverage_shape_is_named(query_shape, coverage_shape, message):
    _, value, value_mask, _ = make_inputs()
    layer = BahdanauAttention(4, coverage=True)
    query = np.zeros(query_shape, "float32")
    with pytest.raises(ValueError, match=message):
        layer(
            query,
            value,
            value_mask=value_mask,
            coverage=np.zeros(coverage_shape),
        )


def test_coverage_to_a_layer_without_coverage_is_an_error():
    query, value, value_mask, coverage = make_inputs()
    layer = BahdanauAttention(4)
    with pytest.raises(
        ValueError,
        match=r"constructed with coverage=True.*"
        r"Received: coverage.shape=\(3, 4, 6\) for a layer with "
        "coverage=False",
    ):
        layer(query, value, value_mask=value_mask, coverage=coverage)


def test_coverage_with_cache_and_bad_flag_are_errors():
    query, value, _, coverage = make_inputs()
    layer = BahdanauAttention(4, coverage=True)
    layer(query, value)
    cache = layer.init_cache(3, 4)
    with pytest.raises(ValueError, match="cannot be combined with `cache`"):
        layer(
            query[:, 0],
            value[:, 0],
            cache=cache,
            query_start_index=0,
            coverage=coverage[:, 0, :4],
        )
    with pytest.raises(ValueError, match="`coverage` must be True or False"):
        BahdanauAttention(4, coverage="yes")
