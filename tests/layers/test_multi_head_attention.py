import keras
import numpy as np
import pytest

from keras_attention.layers import MultiHeadAttention
from tests.conftest import to_numpy
from tests.layers import numpy_reference
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error


def make_inputs(seed=0, batch=3, tq=5, tv=7, dim=8):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tq, dim)).astype("float32")
    value = rng.normal(size=(batch, tv, dim)).astype("float32")
    query_mask = np.ones((batch, tq), bool)
    query_mask[1, 3:] = False
    value_mask = np.ones((batch, tv), bool)
    value_mask[1, 4:] = False
    value_mask[2, 2:] = False
    return query, value, query_mask, value_mask


@pytest.mark.parametrize("kind", ["self", "cross", "causal"])
@pytest.mark.parametrize("return_weights", [False, True])
def test_equals_keras_multi_head_attention(kind, return_weights):
    query, value, query_mask, value_mask = make_inputs()
    if kind != "cross":
        value, value_mask = query, query_mask
    causal = kind == "causal"
    ours = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=3)
    theirs = keras.layers.MultiHeadAttention(
        num_heads=2, key_dim=3, value_dim=3
    )
    ours(query, value)
    theirs(query, value)
    randomize_weights(ours)
    theirs.set_weights(ours.get_weights())
    expected, expected_weights = theirs(
        query,
        value,
        query_mask=query_mask,
        value_mask=value_mask,
        use_causal_mask=causal,
        return_attention_scores=True,
    )
    result = ours(
        query,
        value,
        query_mask=query_mask,
        value_mask=value_mask,
        use_causal_mask=causal,
        return_attention_scores=return_weights,
    )
    actual = result[0] if return_weights else result
    # Keras gives masked query rows a uniform average; ours are zero.
    np.testing.assert_allclose(
        to_numpy(actual)[query_mask],
        to_numpy(expected)[query_mask],
        rtol=1e-5,
        atol=1e-5,
    )
    assert np.all(to_numpy(actual)[~query_mask] == 0.0)
    if return_weights:
        rows = np.broadcast_to(query_mask[:, None], result[1].shape[:3])
        np.testing.assert_allclose(
            to_numpy(result[1])[rows],
            to_numpy(expected_weights)[rows],
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_grouped_query_heads_match_paper_equations(kv_heads):
    query, value, query_mask, value_mask = make_inputs(seed=1)
    layer = MultiHeadAttention(
        num_heads=4, key_dim=3, num_key_value_heads=kv_heads, output_shape=6
    )
    layer(query, value)
    randomize_weights(layer, seed=2)
    full_mask = query_mask[:, :, None] & value_mask[:, None, :]
    expected, expected_weights = numpy_reference.multi_head(
        query.astype("float64"),
        value.astype("float64"),
        value.astype("float64"),
        full_mask,
        [w.astype("float64") for w in layer.get_weights()],
        4,
        kv_heads,
    )
    fused = layer(query, value, query_mask=query_mask, value_mask=value_mask)
    explicit, weights = layer(
        query,
        value,
        query_mask=query_mask,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    rows = query_mask
    for output in (fused, explicit):
        assert output.shape == (3, 5, 6)
        assert relative_error(to_numpy(output)[rows], expected[rows]) < 1e-5
        assert np.all(to_numpy(output)[~rows] == 0.0)
    assert relative_error(to_numpy(weights), expected_weights) < 1e-5


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_cached_decoding_equals_full_causal_attention(kv_heads):
    query, _, _, _ = make_inputs(seed=3, tq=6)
    layer = MultiHeadAttention(
        num_heads=2, key_dim=4, num_key_value_heads=kv_heads
    )
    full, full_weights = layer(
        query, query, use_causal_mask=True, return_attention_scores=True
    )
    cache = layer.init_cache(batch_size=3, max_length=8)
    outputs, step_weights = [], []
    for step in range(6):
        output, weights, cache = layer(
            query[:, step],
            query[:, step],
            use_causal_mask=True,
            cache=cache,
            query_start_index=step,
            return_attention_scores=True,
        )
        outputs.append(to_numpy(output))
        step_weights.append(to_numpy(weights))
    np.testing.assert_allclose(
        np.stack(outputs, 1), to_numpy(full), rtol=1e-5, atol=1e-6
    )
    stacked = np.stack(step_weights, 2)  # [batch, heads, Tq, max_length]
    np.testing.assert_allclose(
        stacked[..., :6], to_numpy(full_weights), rtol=1e-5, atol=1e-6
    )
    assert np.all(stacked[..., 6:] == 0.0)


def test_cache_prefill_then_steps():
    query, _, _, _ = make_inputs(seed=4, tq=6)
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    full = layer(query, query, use_causal_mask=True)
    cache = layer.init_cache(3, 6)
    prefix, cache = layer(
        query[:, :4],
        query[:, :4],
        use_causal_mask=True,
        cache=cache,
        query_start_index=0,
    )
    rest = []
    for step in (4, 5):
        output, cache = layer(
            query[:, step],
            query[:, step],
            use_causal_mask=True,
            cache=cache,
            query_start_index=step,
        )
        rest.append(to_numpy(output))
    combined = np.concatenate([to_numpy(prefix), np.stack(rest, 1)], 1)
    np.testing.assert_allclose(combined, to_numpy(full), rtol=1e-5, atol=1e-6)


def test_cache_keeps_the_mask_of_padded_steps():
    query, _, query_mask, _ = make_inputs(seed=6, tq=6)
    layer = MultiHeadAttention(num_heads=2, key_dim=4, num_key_value_heads=1)
    full = layer(query, query, value_mask=query_mask, use_causal_mask=True)
    cache = layer.init_cache(3, 6)
    # Heads first: [batch, kv_heads, max_length, key_dim].
    assert tuple(cache["key"].shape) == (3, 1, 6, 4)
    prefix, cache = layer(
        query[:, :4],
        query[:, :4],
        value_mask=query_mask[:, :4],
        use_causal_mask=True,
        cache=cache,
        query_start_index=0,
    )
    outputs = [to_numpy(prefix)]
    for step in (4, 5):
        output, cache = layer(
            query[:, step],
            query[:, step],
            value_mask=query_mask[:, step],
            use_causal_mask=True,
            cache=cache,
            query_start_index=step,
        )
        outputs.append(to_numpy(output)[:, None])
    np.testing.assert_array_equal(to_numpy(cache["value_mask"]), query_mask)
    np.testing.assert_allclose(
        np.concatenate(outputs, 1), to_numpy(full), rtol=1e-5, atol=1e-6
    )


def test_precomputed_cross_attention_memory():
    query, value, _, value_mask = make_inputs(seed=5)
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    direct = layer(query, value, value_mask=value_mask)
    memory = layer.precompute_memory(value, value_mask=value_mask)
    for step in range(query.shape[1]):
        output = layer(query[:, step], memory)
        np.testing.assert_allclose(
            to_numpy(output), to_numpy(direct)[:, step], rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0, "key_dim": 4}, "`num_heads` must be a positive"),
        ({"num_heads": 4, "key_dim": 0}, "`key_dim` must be a positive"),
        (
            {"num_heads": 4, "key_dim": 2, "num_key_value_heads": 3},
            "`num_key_value_heads` must divide `num_heads`",
        ),
        ({"num_heads": 2, "key_dim": 2, "dropout": 1.0}, "`dropout` must be"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(**kwargs)


def test_cache_needs_an_index():
    query, _, _, _ = make_inputs()
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    cache = layer.init_cache(3, 5)
    with pytest.raises(ValueError, match="`query_start_index` is required"):
        layer(query[:, 0], query[:, 0], cache=cache)
    memory = layer.precompute_memory(query)
    with pytest.raises(ValueError, match="`value` must hold the new steps"):
        layer(query[:, 0], memory, cache=cache, query_start_index=0)
