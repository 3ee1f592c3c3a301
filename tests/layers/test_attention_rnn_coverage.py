"""`AttentionRNN` coverage and `output_projection=False` (See et al. 2017)."""

import keras
import numpy as np
import pytest

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention
from keras_attention.losses import coverage_loss
from tests.conftest import gradient
from tests.conftest import to_numpy
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error

UNITS = 6

DECODERS = {
    # See et al.: s_t = LSTM([y_t; h*_{t-1}], s_{t-1}), attention from s_t
    # with coverage, output [s_t; h*_t].
    "see": lambda: AttentionRNN(
        keras.layers.LSTMCell(UNITS),
        BahdanauAttention(5, coverage=True),
        input_feeding=True,
        output_projection=False,
        coverage=True,
    ),
    "see_without_feeding": lambda: AttentionRNN(
        keras.layers.LSTMCell(UNITS),
        BahdanauAttention(5, coverage=True),
        output_projection=False,
        coverage=True,
    ),
    "luong_projection_coverage": lambda: AttentionRNN(
        keras.layers.LSTMCell(UNITS),
        BahdanauAttention(5, coverage=True),
        input_feeding=True,
        attentional_units=4,
        coverage=True,
    ),
    "bahdanau_coverage": lambda: AttentionRNN(
        keras.layers.LSTMCell(UNITS),
        BahdanauAttention(5, coverage=True),
        style="bahdanau",
        coverage=True,
    ),
    # Neither coverage nor input feeding: the parallel path.
    "see_parallel": lambda: AttentionRNN(
        keras.layers.LSTMCell(UNITS),
        BahdanauAttention(5),
        output_projection=False,
    ),
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step(x, h, c, w):
    """Keras's LSTMCell (gates i, f, c, o; Hochreiter and Schmidhuber)."""
    z = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
    return sigmoid(z_o) * np.tanh(c), c


def attend(query, memory, memory_mask, coverage, uses_coverage, w):
    """See et al. equations 11 and 2 for one step: weights and context."""
    weights = np.zeros(coverage.shape)
    for n in range(memory.shape[0]):
        scores = np.full(memory.shape[1], -np.inf)
        for i in range(memory.shape[1]):
            if memory_mask[n, i]:
                hidden = (
                    w["key_projection/kernel"].T @ memory[n, i]
                    + w["query_projection/kernel"].T @ query[n]
                    + w["score_bias"]
                )
                if uses_coverage:
                    hidden = hidden + w["coverage_vector"] * coverage[n, i]
                scores[i] = w["score_vector"] @ np.tanh(hidden)
        exp = np.exp(scores - scores.max())
        weights[n] = exp / exp.sum()
    return weights, np.einsum("bi,bid->bd", weights, memory)


def decoder_oracle(name, decoder, inputs, memory, memory_mask, mask=None):
    """The decoders of `DECODERS`, step by step in NumPy float64.

    Masked steps keep the whole state (the coverage too) and repeat the
    previous output, as Keras RNN layers do. Returns the outputs, the
    weights and the final coverage.
    """
    batch, steps, _ = inputs.shape
    if mask is None:
        mask = np.ones((batch, steps), bool)
    cell = named_weights(decoder.cell)
    w = named_weights(decoder.attention)
    inputs, memory = inputs.astype("float64"), memory.astype("float64")
    h = np.zeros((batch, UNITS))
    c = np.zeros((batch, UNITS))
    coverage = np.zeros(memory.shape[:2])
    uses_coverage = name != "see_parallel"
    feed = np.zeros((batch, 0))
    if name == "see":
        feed = np.zeros((batch, memory.shape[-1]))
    elif name == "luong_projection_coverage":
        feed = np.zeros((batch, 4))
    output = None
    outputs, all_weights = [], []
    for t in range(steps):
        if name == "bahdanau_coverage":
            # Bahdanau et al.: s_{t-1} attends, the context enters the cell.
            weights, context = attend(
                h, memory, memory_mask, coverage, uses_coverage, w
            )
            new_h, new_c = lstm_step(
                np.concatenate([inputs[:, t], context], -1), h, c, cell
            )
            new_output = np.concatenate([new_h, context], -1)
        else:
            new_h, new_c = lstm_step(
                np.concatenate([inputs[:, t], feed], -1), h, c, cell
            )
            weights, context = attend(
                new_h, memory, memory_mask, coverage, uses_coverage, w
            )
            if name == "luong_projection_coverage":
                W_c = named_weights(decoder)["attentional_projection/kernel"]
                new_output = np.tanh(np.concatenate([context, new_h], -1) @ W_c)
                new_feed = new_output
            else:
                # See et al. eq. 4 takes [s_t; h*_t]; the context is fed.
                new_output = np.concatenate([new_h, context], -1)
                new_feed = context if name == "see" else feed
        if output is None:
            output = np.zeros_like(new_output)
        keep = mask[:, t : t + 1]
        h = np.where(keep, new_h, h)
        c = np.where(keep, new_c, c)
        coverage = np.where(keep, coverage + weights, coverage)
        output = np.where(keep, new_output, output)
        if name not in ("bahdanau_coverage", "see_parallel"):
            feed = np.where(keep, new_feed, feed)
        outputs.append(output)
        all_weights.append(weights)
    return np.stack(outputs, 1), np.stack(all_weights, 1), coverage


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(3, 4, 3)).astype("float32")
    memory = rng.normal(size=(3, 6, 5)).astype("float32")
    memory_mask = np.ones((3, 6), bool)
    memory_mask[1, 3:] = False
    return inputs, memory, memory_mask


def built_decoder(name, seed=0):
    inputs, memory, memory_mask = make_inputs()
    decoder = DECODERS[name]()
    decoder(inputs, memory, memory_mask=memory_mask)
    # Random biases too: zeros would hide a missing term.
    randomize_weights(decoder, seed=seed)
    return decoder


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_call_matches_numpy_loop(name):
    inputs, memory, memory_mask = make_inputs(seed=1)
    decoder = built_decoder(name, seed=1)
    outputs, weights, final_state = decoder(
        inputs, memory, memory_mask=memory_mask
    )
    expected_outputs, expected_weights, _ = decoder_oracle(
        name, decoder, inputs, memory, memory_mask
    )
    assert relative_error(to_numpy(weights), expected_weights) < 1e-5
    assert relative_error(to_numpy(outputs), expected_outputs) < 1e-5
    assert np.all(to_numpy(weights)[1, :, 3:] == 0.0)
    assert decoder.output_size == to_numpy(outputs).shape[-1]
    if name == "luong_projection_coverage":
        assert decoder.output_size == 4
    else:
        # [s_t; h*_t]: the hidden state, then the context.
        assert decoder.output_size == UNITS + 5
    assert decoder.uses_parallel_path == (name == "see_parallel")
    symbolic = decoder.compute_output_spec(
        keras.KerasTensor(inputs.shape), keras.KerasTensor(memory.shape)
    )
    for spec, tensor in zip(
        keras.tree.flatten(symbolic),
        keras.tree.flatten((outputs, weights, final_state)),
        strict=True,
    ):
        assert tuple(spec.shape) == tuple(tensor.shape)


@pytest.mark.parametrize("name", ["see", "bahdanau_coverage"])
def test_masked_steps_keep_the_coverage(name):
    inputs, memory, memory_mask = make_inputs(seed=2)
    mask = np.ones((3, 4), bool)
    mask[0, 1] = False  # a hole: steps 2 and 3 must not see step 1
    mask[2, 2:] = False
    decoder = built_decoder(name, seed=2)
    outputs, weights, _ = decoder(inputs, memory, memory_mask, mask=mask)
    expected_outputs, expected_weights, _ = decoder_oracle(
        name, decoder, inputs, memory, memory_mask, mask
    )
    # Real steps only: the weights of padded steps are not defined.
    assert relative_error(to_numpy(weights)[mask], expected_weights[mask]) < (
        1e-5
    )
    assert relative_error(to_numpy(outputs), expected_outputs) < 1e-5
    # The oracle's coverage does depend on the mask: counting step 1 of
    # sequence 0 would change its later weights.
    _, unmasked_weights, _ = decoder_oracle(
        name, decoder, inputs, memory, memory_mask
    )
    assert relative_error(unmasked_weights[0, 2:], expected_weights[0, 2:]) > (
        1e-3
    )


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_steps_reproduce_call_and_the_final_coverage(name):
    inputs, memory, memory_mask = make_inputs(seed=3)
    decoder = built_decoder(name, seed=3)
    outputs, weights, final_state = decoder(
        inputs, memory, memory_mask=memory_mask
    )
    projected = decoder.precompute_memory(memory, memory_mask)
    state = decoder.get_initial_state(3, memory=projected)
    if name == "see_parallel":
        assert "coverage" not in state
    else:
        coverage = state["coverage"]
        assert keras.backend.standardize_dtype(coverage.dtype) == "float32"
        np.testing.assert_array_equal(to_numpy(coverage), np.zeros((3, 6)))
    step_outputs, step_weights = [], []
    for t in range(inputs.shape[1]):
        output, state, step_weight = decoder.step(
            inputs[:, t], state, projected
        )
        step_outputs.append(to_numpy(output))
        step_weights.append(to_numpy(step_weight))
    assert relative_error(np.stack(step_outputs, 1), to_numpy(outputs)) < 1e-5
    assert relative_error(np.stack(step_weights, 1), to_numpy(weights)) < 1e-5
    for actual, expected in zip(
        keras.tree.flatten(state["cell"]),
        keras.tree.flatten(final_state),
        strict=True,
    ):
        assert relative_error(to_numpy(actual), to_numpy(expected)) < 1e-5
    if name != "see_parallel":
        _, _, expected_coverage = decoder_oracle(
            name, decoder, inputs, memory, memory_mask
        )
        assert relative_error(
            to_numpy(state["coverage"]), expected_coverage
        ) < (1e-5)
        # Each step adds one distribution over the unmasked positions.
        np.testing.assert_allclose(
            to_numpy(state["coverage"]).sum(-1), 4.0, rtol=1e-5
        )


def seq2seq_model(name, coverage_weight=1.0):
    """Logits and the mean coverage loss of each example (eq. 12)."""
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    memory = keras.layers.Embedding(20, 5, mask_zero=True)(source)
    embedded = keras.layers.Embedding(20, 3, mask_zero=True)(target)
    outputs, weights, _ = DECODERS[name]()(
        embedded, memory, memory_mask=keras.ops.not_equal(source, 0)
    )
    logits = keras.layers.Dense(20)(outputs)
    losses = coverage_weight * coverage_loss(
        weights, keras.ops.not_equal(target, 0)
    )
    return keras.Model([source, target], [logits, losses])


def token_data(seed=5):
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 20, size=(4, 6)).astype("int32")
    source[1, 4:] = 0
    target = rng.integers(1, 20, size=(4, 4)).astype("int32")
    target[2, 3:] = 0
    return source, target


@pytest.mark.parametrize("name", ["see", "bahdanau_coverage", "see_parallel"])
def test_save_load_round_trip_and_jit(name, tmp_path):
    source, target = token_data()
    model = seq2seq_model(name)
    expected = [to_numpy(x) for x in model([source, target])]
    assert np.all(expected[1] >= 0) and np.all(expected[1] <= 1)
    model.save(tmp_path / "decoder.keras")
    restored = keras.saving.load_model(tmp_path / "decoder.keras")
    for actual, wanted in zip(
        restored([source, target]), expected, strict=True
    ):
        np.testing.assert_array_equal(to_numpy(actual), wanted)
    decoder, original = (
        next(x for x in m.layers if isinstance(x, AttentionRNN))
        for m in (restored, model)
    )
    config = decoder.get_config()
    for key in ("style", "input_feeding", "output_projection", "coverage"):
        assert config[key] == original.get_config()[key]
    assert config["output_projection"] == (name == "bahdanau_coverage")
    assert config["coverage"] == (name != "see_parallel")
    assert decoder.attention.coverage == config["coverage"]
    if keras.backend.backend() == "torch":
        return  # jit_compile on torch means torch.compile (dynamo)
    model.compile(jit_compile=True)
    compiled = model.predict([source, target], verbose=0)
    for actual, wanted in zip(compiled, expected, strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-5)


def test_compiled_fit_trains_the_coverage_vector():
    source, target = token_data(seed=6)
    model = seq2seq_model("see")
    attention = next(
        x for x in model.layers if isinstance(x, AttentionRNN)
    ).attention
    before = to_numpy(attention.coverage_vector)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=[
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            # The second output already is the (weighted) coverage loss.
            lambda _, coverage_losses: coverage_losses,
        ],
        jit_compile=keras.backend.backend() != "torch",
    )
    history = model.fit(
        [source, target],
        [target, np.zeros((4,), "float32")],
        epochs=2,
        batch_size=4,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(to_numpy(attention.coverage_vector) - before).max() > 0


def test_gradients_reach_the_memory_through_the_coverage():
    inputs, memory, memory_mask = make_inputs(seed=7)
    decoder = built_decoder("see", seed=7)

    def total_coverage_loss(memory_tensor):
        _, weights, _ = decoder(inputs, memory_tensor, memory_mask)
        return coverage_loss(weights)

    grad = gradient(total_coverage_loss, memory)
    assert np.isfinite(grad).all()
    assert np.abs(grad[0]).sum() > 0
    assert np.all(grad[1, 3:] == 0.0)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="unknown static lengths arise in TensorFlow graphs only",
)
def test_coverage_loop_runs_in_a_graph_of_unknown_lengths():
    import tensorflow as tf

    inputs, memory, memory_mask = make_inputs(seed=8)
    mask = np.ones((3, 4), bool)
    mask[2, 2:] = False
    decoder = built_decoder("see", seed=8)
    eager = decoder(inputs, memory, memory_mask, mask=mask)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, 3]),
            tf.TensorSpec([None, None, 5]),
            tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([None, None], tf.bool),
        ],
        jit_compile=True,
    )
    def run(inputs, memory, memory_mask, mask):
        return decoder(inputs, memory, memory_mask, mask=mask)[:2]

    graph = run(inputs, memory, memory_mask, mask)
    for actual, expected in zip(graph, eager[:2], strict=True):
        np.testing.assert_allclose(
            to_numpy(actual), to_numpy(expected), rtol=1e-5, atol=1e-6
        )


def test_mixed_precision_coverage_decoder():
    inputs, memory, memory_mask = make_inputs(seed=9)
    reference = built_decoder("see", seed=9)
    expected_outputs, expected_weights, _ = reference(
        inputs, memory, memory_mask
    )
    keras.config.set_dtype_policy("mixed_bfloat16")
    decoder = DECODERS["see"]()
    decoder(inputs, memory, memory_mask)
    decoder.set_weights(reference.get_weights())
    outputs, weights, _ = decoder(inputs, memory, memory_mask)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    projected = decoder.precompute_memory(memory, memory_mask)
    state = decoder.get_initial_state(3, memory=projected)
    for t in range(inputs.shape[1]):
        _, state, _ = decoder.step(inputs[:, t], state, projected)
    # The coverage is summed in float32 whatever the compute dtype.
    assert keras.backend.standardize_dtype(state["coverage"].dtype) == (
        "float32"
    )
    weights = to_numpy(weights).astype("float32")
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-2)
    np.testing.assert_allclose(weights, to_numpy(expected_weights), atol=5e-2)
    np.testing.assert_allclose(
        to_numpy(outputs).astype("float32"),
        to_numpy(expected_outputs),
        atol=5e-2,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"coverage": True},
            r"`coverage=True` needs an attention layer.*"
            r"Received: coverage=True with attention=BahdanauAttention "
            r"\(coverage=False\)",
        ),
        (
            {"coverage": True, "attention": LuongAttention("general")},
            "attention=LuongAttention",
        ),
        (
            {"coverage": True, "attention": MultiHeadAttention(2, 3)},
            "attention=MultiHeadAttention",
        ),
        (
            {
                "coverage": True,
                "attention": BahdanauAttention(3, coverage=True),
                "parallel": True,
            },
            "`parallel=True` cannot run coverage=True",
        ),
        ({"coverage": "yes"}, "`coverage` must be True or False"),
        (
            {"output_projection": False, "style": "bahdanau"},
            "`output_projection=False` applies to style='luong' only",
        ),
        (
            {"output_projection": False, "attentional_units": 4},
            "`attentional_units` is the size of the output projection",
        ),
        ({"output_projection": 0}, "`output_projection` must be True or"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {
        "cell": keras.layers.GRUCell(4),
        "attention": BahdanauAttention(3),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        AttentionRNN(**arguments)


def test_coverage_state_needs_the_memory():
    inputs, memory, memory_mask = make_inputs(seed=10)
    decoder = built_decoder("see", seed=10)
    with pytest.raises(ValueError, match="needs `memory`, the dict"):
        decoder.get_initial_state(3)
    projected = decoder.precompute_memory(memory, memory_mask)
    state = decoder.get_initial_state(3, memory=projected)
    state.pop("coverage")
    with pytest.raises(ValueError, match="`state` must hold `coverage`"):
        decoder.step(inputs[:, 0], state, projected)
