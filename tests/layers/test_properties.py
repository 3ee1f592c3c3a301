"""Masking properties of every layer, over random shapes and masks (issue 9).

Hypothesis draws the batch, the lengths, the masks and the input scale; the
layers are built once per configuration and input dimensions and reused
across examples, so the file stays fast. Checked on every example:

- outputs and attention weights are finite;
- a position the masks (value, query, causal, local-m window) rule out gets
  exactly zero weight;
- a query row with nothing left to attend to gives exactly zero weights and
  a zero context;
- any other row's weights sum to one (local-p multiplies them by a Gaussian,
  so there they lie in `[exp(-2), 1]`, or are all zero when the window
  holds only masked positions).
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention
from tests.conftest import to_numpy
from tests.layers.helpers import randomize_weights

# A source of one token is valid input: the layers must not trigger Keras's
# warning about a softmax over one position.
pytestmark = pytest.mark.filterwarnings(
    "error:You are using a softmax over axis:UserWarning"
)

if keras.backend.backend() != "tensorflow":
    pytest.skip("property tests run on TensorFlow", allow_module_level=True)

MAX_QUERY_LENGTH = 5
MAX_VALUE_LENGTH = 6
WINDOW = 1
TOLERANCE = 1e-5
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

SCORE_LAYERS = {
    "bahdanau": lambda: BahdanauAttention(3),
    "bahdanau_normalized": lambda: BahdanauAttention(3, normalize=True),
}
for _score in ("dot", "general", "concat", "location"):
    for _alignment in ("global", "local-m", "local-p"):
        SCORE_LAYERS[f"luong_{_score}_{_alignment}"] = (
            lambda score=_score, alignment=_alignment: LuongAttention(
                score,
                # The location score's longest source; the others' hidden
                # sizes.
                units=MAX_VALUE_LENGTH if score == "location" else 3,
                use_scale=score == "general",
                alignment=alignment,
                window=WINDOW,
            )
        )
MULTI_HEAD_LAYERS = {
    "multi_head": lambda: MultiHeadAttention(2, 3, value_dim=2),
    "multi_head_gqa": lambda: MultiHeadAttention(4, 3, num_key_value_heads=2),
}
DECODERS = {
    "rnn_gru_bahdanau": lambda: AttentionRNN(
        keras.layers.GRUCell(3), BahdanauAttention(3), style="bahdanau"
    ),
    "rnn_lstm_luong_parallel": lambda: AttentionRNN(
        keras.layers.LSTMCell(3), LuongAttention("general")
    ),
    "rnn_gru_luong_local-m_input_feeding": lambda: AttentionRNN(
        keras.layers.GRUCell(3),
        LuongAttention("concat", units=3, alignment="local-m", window=1),
        input_feeding=True,
    ),
}

# Built layers, keyed by configuration and input dimensions: examples reuse
# them, so Hypothesis mostly varies batch, lengths and masks.
_BUILT = {}


def built_layer(factories, name, query_dim, value_dim):
    key = (name, query_dim, value_dim)
    if key not in _BUILT:
        layer = factories[name]()
        layer(
            np.zeros((1, 2, query_dim), "float32"),
            np.zeros((1, 2, value_dim), "float32"),
        )
        # Random biases too: a zero output bias would hide an unzeroed row.
        randomize_weights(layer, seed=len(_BUILT))
        _BUILT[key] = layer
    return _BUILT[key]


@st.composite
def attention_inputs(draw, same_dims=False):
    """Query, value and masks of random shapes (masks may be all False)."""
    batch = draw(st.integers(1, 3))
    query_length = draw(st.integers(1, MAX_QUERY_LENGTH))
    value_length = draw(st.integers(1, MAX_VALUE_LENGTH))
    query_dim = draw(st.sampled_from([2, 5]))
    value_dim = query_dim if same_dims else draw(st.sampled_from([2, 5]))
    # Large scales push the logits far apart and saturate the tanh.
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    query = scale * rng.normal(size=(batch, query_length, query_dim))
    value = scale * rng.normal(size=(batch, value_length, value_dim))
    optional_mask = st.none() | hnp.arrays(bool, (batch, value_length))
    value_mask = draw(optional_mask)
    query_mask = draw(st.none() | hnp.arrays(bool, (batch, query_length)))
    return {
        "query": query.astype("float32"),
        "value": value.astype("float32"),
        "query_mask": query_mask,
        "value_mask": value_mask,
    }


def allowed_positions(inputs, causal=False, start=0, local_m=False):
    """Boolean `[batch, Tq, Tv]`: where the masks leave a nonzero weight."""
    batch, query_length = inputs["query"].shape[:2]
    value_length = inputs["value"].shape[1]
    allowed = np.ones((batch, query_length, value_length), bool)
    if inputs["value_mask"] is not None:
        allowed &= inputs["value_mask"][:, None, :]
    if inputs["query_mask"] is not None:
        allowed &= inputs["query_mask"][:, :, None]
    query_positions = start + np.arange(query_length)[:, None]
    value_positions = np.arange(value_length)[None, :]
    if causal:
        allowed &= query_positions >= value_positions
    if local_m:
        allowed &= np.abs(value_positions - query_positions) <= WINDOW
    return allowed


def check_weights(weights, allowed, context, gaussian=False):
    """The properties of the module docstring, for one call.

    Args:
        weights: `[batch, Tq, Tv]`, or `[batch, heads, Tq, Tv]`.
        allowed: Boolean `[batch, Tq, Tv]`.
        context: `[batch, Tq, ...]`, zero where a row has nothing allowed.
        gaussian: Whether the weights are scaled by local-p's Gaussian.
    """
    assert np.isfinite(weights).all()
    assert np.isfinite(context).all()
    if weights.ndim == 4:
        allowed = np.broadcast_to(allowed[:, None], weights.shape)
    assert np.all(weights >= 0.0)
    assert np.all(weights[~allowed] == 0.0)
    sums = weights.sum(-1)
    empty = ~allowed.any(-1)
    assert np.all(sums[empty] == 0.0)
    if gaussian:
        # Each weight is the softmax times a Gaussian in [exp(-2), 1] on the
        # window; a window holding only masked positions leaves zeros.
        low = math.exp(-2.0) - TOLERANCE
        sums = sums[~empty]
        assert np.all((sums == 0.0) | ((sums >= low) & (sums <= 1 + 1e-5)))
    else:
        np.testing.assert_allclose(sums[~empty], 1.0, atol=TOLERANCE)
    if weights.ndim == 4:
        empty = empty.all(1)
    zero_rows = empty if not gaussian else (weights.sum(-1) == 0.0)
    assert np.all(context[zero_rows] == 0.0)


@pytest.mark.parametrize("name", sorted(SCORE_LAYERS))
@SETTINGS
@given(
    data=st.data(),
    causal=st.booleans(),
    start=st.integers(0, 3),
)
def test_score_layer_masking(name, data, causal, start):
    inputs = data.draw(attention_inputs(same_dims="_dot_" in name))
    layer = built_layer(
        SCORE_LAYERS,
        name,
        inputs["query"].shape[-1],
        inputs["value"].shape[-1],
    )
    context, weights = layer(
        inputs["query"],
        inputs["value"],
        query_mask=inputs["query_mask"],
        value_mask=inputs["value_mask"],
        use_causal_mask=causal,
        query_start_index=start,
        return_attention_scores=True,
    )
    allowed = allowed_positions(inputs, causal, start, "local-m" in name)
    check_weights(
        to_numpy(weights),
        allowed,
        to_numpy(context),
        gaussian=name.endswith("local-p"),
    )


@pytest.mark.parametrize("name", sorted(MULTI_HEAD_LAYERS))
@SETTINGS
@given(data=st.data(), causal=st.booleans())
def test_multi_head_masking(name, data, causal):
    inputs = data.draw(attention_inputs())
    layer = built_layer(
        MULTI_HEAD_LAYERS,
        name,
        inputs["query"].shape[-1],
        inputs["value"].shape[-1],
    )
    arguments = dict(
        query_mask=inputs["query_mask"],
        value_mask=inputs["value_mask"],
        use_causal_mask=causal,
    )
    outputs, weights = layer(
        inputs["query"],
        inputs["value"],
        return_attention_scores=True,
        **arguments,
    )
    allowed = allowed_positions(inputs, causal)
    outputs, weights = to_numpy(outputs), to_numpy(weights)
    check_weights(weights, allowed, outputs)
    # Without the weights the fused kernel runs: same outputs, same zeros.
    fused = to_numpy(layer(inputs["query"], inputs["value"], **arguments))
    assert np.isfinite(fused).all()
    assert np.all(fused[~allowed.any(-1)] == 0.0)
    np.testing.assert_allclose(
        fused, outputs, atol=TOLERANCE * max(1.0, np.abs(outputs).max())
    )


@pytest.mark.parametrize("name", sorted(DECODERS))
@SETTINGS
@given(data=st.data())
def test_decoder_masking(name, data):
    inputs = data.draw(attention_inputs())
    layer = built_layer(
        DECODERS,
        name,
        inputs["query"].shape[-1],
        inputs["value"].shape[-1],
    )
    step_mask = inputs["query_mask"]
    outputs, weights, state = layer(
        inputs["query"],
        inputs["value"],
        memory_mask=inputs["value_mask"],
        mask=step_mask,
    )
    outputs, weights = to_numpy(outputs), to_numpy(weights)
    assert np.isfinite(outputs).all()
    assert all(
        np.isfinite(to_numpy(s)).all() for s in keras.tree.flatten(state)
    )
    # Padded decoder steps are not attention rows: the loop repeats the last
    # output there and the parallel path attends from a masked query, so
    # only the steps taken are checked against the memory mask.
    taken = np.ones(weights.shape[:2], bool)
    if step_mask is not None:
        taken = step_mask
    memory_only = dict(inputs, query_mask=None)
    allowed = allowed_positions(memory_only, local_m="local-m" in name)
    # Bahdanau-style outputs end with the context itself.
    context = outputs[..., layer.cell.units :]
    if layer.style != "bahdanau":
        context = np.zeros_like(outputs)
    check_weights(weights[taken], allowed[taken], context[taken])
