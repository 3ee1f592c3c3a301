import keras
import numpy as np
import pytest

from keras_attention.layers import LuongAttention
from tests.conftest import to_numpy
from tests.layers import numpy_reference
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error


def make_inputs(seed=0, batch=3, tq=5, tv=9, dim=6, dv=4):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tq, dim)).astype("float32")
    key = rng.normal(size=(batch, tv, dim)).astype("float32")
    value = rng.normal(size=(batch, tv, dv)).astype("float32")
    value_mask = np.ones((batch, tv), bool)
    value_mask[1, 6:] = False
    value_mask[2, 3:] = False
    return query, key, value, value_mask


def score_weights(layer, score):
    w = named_weights(layer)
    if score == "general":
        return {"W": w["query_projection/kernel"]}
    if score == "concat":
        return {
            "W": w["query_projection/kernel"],
            "W_k": w["key_projection/kernel"],
            "v": w["score_vector"],
        }
    if score == "location":
        return {"W": w["location_projection/kernel"]}
    return {}


def test_worked_example():
    # Encoder states 2, 5, 1 and decoder state 4: dot scores 8, 20, 4.
    encoder = np.array([[[2.0], [5.0], [1.0]]], "float32")
    decoder = np.array([[4.0]], "float32")
    layer = LuongAttention("dot")
    context, weights = layer(decoder, encoder, return_attention_scores=True)
    scores = np.array([8.0, 20.0, 4.0])
    expected_weights = np.exp(scores - 20.0) / np.exp(scores - 20.0).sum()
    np.testing.assert_allclose(to_numpy(weights)[0], expected_weights, 1e-6)
    assert f"{float(to_numpy(context)[0, 0]):.3f}" == "5.000"


@pytest.mark.parametrize("score", ["dot", "general", "concat", "location"])
@pytest.mark.parametrize("alignment", ["global", "local-m", "local-p"])
def test_matches_paper_equations(score, alignment):
    query, key, value, value_mask = make_inputs()
    layer = LuongAttention(
        score,
        units=5 if score == "concat" else None,
        alignment=alignment,
        window=2,
    )
    layer(query, value, key=key, value_mask=value_mask)
    randomize_weights(layer)
    context, weights = layer(
        query,
        value,
        key=key,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    w = named_weights(layer)
    position_weights = None
    if alignment == "local-p":
        position_weights = (
            w["position_hidden/kernel"],
            w["position_output/kernel"][:, 0],
        )
    expected_context, expected_weights = numpy_reference.luong(
        score,
        query.astype("float64"),
        key.astype("float64"),
        value.astype("float64"),
        value_mask,
        alignment=alignment,
        window=2,
        position_weights=position_weights,
        **score_weights(layer, score),
    )
    assert relative_error(to_numpy(weights), expected_weights) < 1e-5
    assert relative_error(to_numpy(context), expected_context) < 1e-5


def test_local_m_single_steps_follow_query_start_index():
    query, key, value, value_mask = make_inputs(seed=1)
    layer = LuongAttention("general", alignment="local-m", window=1)
    _, full = layer(
        query,
        value,
        key=key,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    for step in range(query.shape[1]):
        _, weights = layer(
            query[:, step],
            value,
            key=key,
            value_mask=value_mask,
            return_attention_scores=True,
            query_start_index=step,
        )
        np.testing.assert_allclose(
            to_numpy(weights), to_numpy(full)[:, step], rtol=1e-5, atol=1e-6
        )
        # Only positions step, step + 1 and step + 2 (1-based p_t = step + 1).
        outside = np.ones(value.shape[1], bool)
        outside[max(step - 1, 0) : step + 2] = False
        outside[step + 2 :] = True
        assert np.all(to_numpy(weights)[:, outside] == 0.0)


def test_window_wider_than_source_is_clipped():
    query, key, value, value_mask = make_inputs(seed=2)
    wide = LuongAttention("dot", alignment="local-m", window=100)
    plain = LuongAttention("dot")
    np.testing.assert_allclose(
        to_numpy(wide(query, value, key=key, value_mask=value_mask)),
        to_numpy(plain(query, value, key=key, value_mask=value_mask)),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize("use_scale", [False, True])
def test_dot_equals_keras_attention(use_scale):
    query, key, value, value_mask = make_inputs(seed=3)
    query_mask = np.ones(query.shape[:2], bool)
    query_mask[0, 3:] = False
    ours = LuongAttention("dot", use_scale=use_scale)
    theirs = keras.layers.Attention(use_scale=use_scale)
    ours(query, value, key=key)
    if use_scale:
        ours.set_weights([np.array(0.7, "float32")])
        theirs([query, value, key])
        theirs.set_weights([np.array(0.7, "float32")])
    expected, expected_weights = theirs(
        [query, value, key],
        mask=[query_mask, value_mask],
        return_attention_scores=True,
    )
    actual, actual_weights = ours(
        query,
        value,
        key=key,
        query_mask=query_mask,
        value_mask=value_mask,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(
        to_numpy(actual), to_numpy(expected), rtol=1e-5, atol=1e-6
    )
    # Keras leaves weights in masked query rows; ours are zero there.
    rows = query_mask
    np.testing.assert_allclose(
        to_numpy(actual_weights)[rows],
        to_numpy(expected_weights)[rows],
        rtol=1e-5,
        atol=1e-6,
    )
    assert np.all(to_numpy(actual_weights)[~rows] == 0.0)


def test_location_with_dynamic_length_uses_units():
    query, key, value, value_mask = make_inputs(seed=4)
    layer = LuongAttention("location", units=12)
    _, weights = layer(query, value, return_attention_scores=True)
    assert weights.shape == (3, 5, 9)
    longer = np.zeros((3, 13, 4), "float32")
    with pytest.raises(ValueError, match="at most 12 steps"):
        layer(query, longer)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"score": "bilinear"}, "`score` must be one of"),
        ({"alignment": "local"}, "`alignment` must be one of"),
        ({"score": "concat"}, "`units` is required for score='concat'"),
        ({"window": 0}, "`window` must be a positive integer"),
        ({"units": -1}, "`units` must be a positive integer or None"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LuongAttention(**kwargs)


def test_dot_with_mismatched_dimensions_is_explained():
    query = np.zeros((2, 3, 4), "float32")
    value = np.zeros((2, 5, 6), "float32")
    with pytest.raises(ValueError, match="score='general'"):
        LuongAttention("dot")(query, value)
