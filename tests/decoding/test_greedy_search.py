"""Tests of `greedy_search`, and the step functions the decoder tests share.

The step functions below are the models the decoding tests run; NumPy
(`numpy_sequence_log_prob`, brute force) or a replay of the step function
along a returned sequence are the oracles. The tests share one small
configuration so that JAX, which compiles every eager op per shape, reuses
its compiled ops across tests.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.decoding import greedy_search
from tests.conftest import to_numpy

EPSILON_PROBABILITY = 1e-3
# Tokens: 0 start and pad, 1 end, 2 and 3.
VOCABULARY_SIZE = 4
END_ID = 1
BATCH_SIZE = 2
MAX_LENGTH = 4
SOURCE_LENGTH = 3


def numpy_log_softmax(logits):
    logits = np.asarray(logits, dtype="float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_tables_from_probabilities(rows_per_step):
    """Builds `[steps, vocab, vocab]` log-probabilities from sparse rows.

    `rows_per_step[t][previous_token]` lists the probabilities of the next
    token; rows that are not given are uniform.
    """
    shape = (len(rows_per_step), VOCABULARY_SIZE, VOCABULARY_SIZE)
    tables = np.full(shape, 1.0 / VOCABULARY_SIZE)
    for step, rows in enumerate(rows_per_step):
        for previous_token, probabilities in rows.items():
            tables[step, previous_token] = probabilities
    tables = np.maximum(tables, EPSILON_PROBABILITY)
    tables /= tables.sum(axis=-1, keepdims=True)
    return np.log(tables).astype("float32")


def table_step_fn(log_tables):
    """A step function reading `log_tables[step, previous_token]`.

    `log_tables` is `[steps, vocab, vocab]`; the step index is the state.
    Steps past the table reuse its last step (finished sequences are still
    stepped).
    """
    steps, vocabulary_size, _ = log_tables.shape
    flat_tables = ops.convert_to_tensor(
        np.reshape(log_tables, (steps * vocabulary_size, vocabulary_size))
    )

    def step_fn(token_ids, state):
        step = ops.minimum(state["step"], steps - 1)
        rows = step * vocabulary_size + token_ids
        return ops.take(flat_tables, rows, axis=0), {"step": state["step"] + 1}

    return step_fn


def table_initial_state(batch_size=BATCH_SIZE):
    return {"step": ops.zeros([batch_size], "int32")}


def numpy_sequence_log_prob(log_tables, start_id, tokens):
    """Sum of the log-probabilities of `tokens` under `table_step_fn`."""
    log_probs = numpy_log_softmax(log_tables)
    previous, total = start_id, 0.0
    for step, token in enumerate(tokens):
        total += log_probs[min(step, len(log_tables) - 1), previous, token]
        previous = token
    return total


def random_log_tables(seed, steps=MAX_LENGTH):
    rng = np.random.default_rng(seed)
    shape = (steps, VOCABULARY_SIZE, VOCABULARY_SIZE)
    return rng.normal(scale=1.5, size=shape).astype("float32")


def attention_step_fn(heads=None, seed=0):
    """A step function with a recurrent state and attention outputs.

    The state holds a per-entry `memory` (the "source"), a step counter and
    a `hidden` vector updated from every token, so each hypothesis has its
    own state. The attention is a deterministic function of the previous
    token, the step, the memory and the hidden vector; the logits depend
    on the attention and the hidden vector, so batch entries and beams
    diverge. With `heads`, the attention is `[n, heads, SOURCE_LENGTH]`,
    else `[n, SOURCE_LENGTH]`.
    """
    rng = np.random.default_rng(seed)
    bigram = ops.convert_to_tensor(
        rng.normal(size=(VOCABULARY_SIZE, VOCABULARY_SIZE)), "float32"
    )
    token_embeddings = ops.convert_to_tensor(
        rng.normal(size=(VOCABULARY_SIZE, SOURCE_LENGTH)), "float32"
    )
    projection = ops.convert_to_tensor(
        rng.normal(scale=3.0, size=(SOURCE_LENGTH, VOCABULARY_SIZE)),
        "float32",
    )
    head_scales = np.arange(1, (heads or 1) + 1, dtype="float32")

    def step_fn(token_ids, state):
        memory, step = state["memory"], state["step"]
        hidden = ops.tanh(
            state["hidden"] + ops.take(token_embeddings, token_ids, axis=0)
        )
        step_scale = ops.expand_dims(1.0 / ops.cast(step + 1, "float32"), 1)
        energies = [
            (memory + hidden) * step_scale * scale for scale in head_scales
        ]
        attention = ops.softmax(ops.stack(energies, axis=1), axis=-1)
        context = ops.mean(attention, axis=1) + hidden
        logits = ops.take(bigram, token_ids, axis=0) + ops.matmul(
            context, projection
        )
        new_state = {"memory": memory, "step": step + 1, "hidden": hidden}
        if heads is None:
            attention = attention[:, 0]
        return logits, new_state, attention

    return step_fn


def attention_initial_state(seed=1):
    rng = np.random.default_rng(seed)
    memory = rng.normal(size=(BATCH_SIZE, SOURCE_LENGTH)).astype("float32")
    return {
        "memory": ops.convert_to_tensor(memory),
        "step": ops.zeros([BATCH_SIZE], "int32"),
        "hidden": ops.zeros([BATCH_SIZE, SOURCE_LENGTH]),
    }


def replay(step_fn, initial_state, batch_index, start_id, tokens):
    """Runs `step_fn` eagerly along `tokens` for one batch entry.

    Returns the summed log-probabilities, the per-step log-probabilities
    `[len(tokens), vocab]` and the per-step attention (or None).
    """
    state = keras.tree.map_structure(
        lambda tensor: tensor[batch_index : batch_index + 1], initial_state
    )
    previous = ops.convert_to_tensor([start_id], "int32")
    step_log_probs, attentions = [], []
    for token in tokens:
        outputs = step_fn(previous, state)
        logits, state = outputs[0], outputs[1]
        step_log_probs.append(numpy_log_softmax(to_numpy(logits)[0]))
        if len(outputs) == 3:
            attentions.append(to_numpy(outputs[2])[0])
        previous = ops.convert_to_tensor([token], "int32")
    total = sum(
        log_probs[token]
        for log_probs, token in zip(step_log_probs, tokens, strict=True)
    )
    return total, np.array(step_log_probs), attentions or None


def dtype_of(tensor):
    return keras.backend.standardize_dtype(tensor.dtype)


def compile_decoder(function):
    """Compiles `function` with XLA on TensorFlow and JAX."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    pytest.skip(f"No XLA compilation of a Python loop on {backend}.")


def test_hand_worked_sequences_with_end_and_padding():
    # Start 0: t0 -> 3 (0.5), t1 -> 2 (0.6), t2 -> end (0.7).
    # Start 2: t0 -> end (0.8), finished at once; the pad it is then fed
    # would lead to 3, but the sequence stays finished and padded.
    log_tables = log_tables_from_probabilities(
        [
            {0: [0, 0.1, 0.4, 0.5], 2: [0, 0.8, 0.1, 0.1]},
            {3: [0, 0.1, 0.6, 0.3], 0: [0, 0, 0, 1]},
            {2: [0, 0.7, 0.1, 0.2], 0: [0, 0, 0, 1]},
            {0: [0, 0, 0, 1]},
        ]
    )
    outputs = greedy_search(
        table_step_fn(log_tables),
        table_initial_state(),
        start_ids=np.array([0, 2], "int32"),
        end_id=END_ID,
        max_length=MAX_LENGTH,
    )
    np.testing.assert_array_equal(
        to_numpy(outputs["sequences"]), [[3, 2, 1, 0], [1, 0, 0, 0]]
    )
    np.testing.assert_array_equal(to_numpy(outputs["lengths"]), [3, 1])
    # Each row used has one zero, raised to EPSILON_PROBABILITY.
    row_sum = 1.0 + EPSILON_PROBABILITY
    expected_scores = [
        np.log(0.5 * 0.6 * 0.7 / row_sum**3),
        np.log(0.8 / row_sum),
    ]
    np.testing.assert_allclose(
        to_numpy(outputs["scores"]), expected_scores, rtol=1e-5
    )
    assert "attention" not in outputs


def test_unfinished_sequences_run_to_max_length():
    log_tables = random_log_tables(seed=3)
    # The end token is never the most probable.
    log_tables[..., END_ID] = -20.0
    start_ids = np.array([0, 3], "int32")
    outputs = greedy_search(
        table_step_fn(log_tables),
        table_initial_state(),
        start_ids=start_ids,
        end_id=END_ID,
        max_length=MAX_LENGTH,
    )
    np.testing.assert_array_equal(
        to_numpy(outputs["lengths"]), [MAX_LENGTH, MAX_LENGTH]
    )
    log_probs = numpy_log_softmax(log_tables)
    for row, start_id in enumerate(start_ids):
        previous, expected = start_id, []
        for step in range(MAX_LENGTH):
            previous = int(np.argmax(log_probs[step, previous]))
            expected.append(previous)
        np.testing.assert_array_equal(
            to_numpy(outputs["sequences"])[row], expected
        )
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[row],
            numpy_sequence_log_prob(log_tables, start_id, expected),
            rtol=1e-5,
        )


@pytest.mark.parametrize("heads", [None, 2])
def test_attention_history_matches_replay(heads):
    step_fn = attention_step_fn(heads)
    initial_state = attention_initial_state()
    start_ids = np.array([0, 3], "int32")
    outputs = greedy_search(
        step_fn, initial_state, start_ids, END_ID, MAX_LENGTH
    )
    sequences = to_numpy(outputs["sequences"])
    lengths = to_numpy(outputs["lengths"])
    attention = to_numpy(outputs["attention"])
    head_shape = (heads,) if heads else ()
    assert attention.shape == (
        (BATCH_SIZE, MAX_LENGTH) + head_shape + (SOURCE_LENGTH,)
    )
    assert dtype_of(outputs["attention"]) == "float32"
    for row in range(BATCH_SIZE):
        length = lengths[row]
        tokens = sequences[row, :length].tolist()
        assert length == MAX_LENGTH or tokens[-1] == END_ID
        assert END_ID not in tokens[:-1]
        assert (sequences[row, length:] == 0).all()
        total, step_log_probs, step_attention = replay(
            step_fn, initial_state, row, start_ids[row], tokens
        )
        np.testing.assert_array_equal(
            np.argmax(step_log_probs, axis=-1), tokens
        )
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[row], total, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            attention[row, :length], step_attention, rtol=1e-5, atol=1e-6
        )
        assert (attention[row, length:] == 0).all()


def test_half_precision_logits_give_float32_scores():
    reference_step_fn = table_step_fn(random_log_tables(seed=4))

    def half_precision_step_fn(token_ids, state):
        logits, state = reference_step_fn(token_ids, state)
        return ops.cast(logits, "float16"), state

    outputs = greedy_search(
        half_precision_step_fn,
        table_initial_state(),
        np.array([0, 2], "int32"),
        end_id=END_ID,
        max_length=MAX_LENGTH,
    )
    assert dtype_of(outputs["scores"]) == "float32"
    assert dtype_of(outputs["sequences"]) == "int32"
    assert dtype_of(outputs["lengths"]) == "int32"


def test_compiled_equals_eager():
    step_fn = attention_step_fn()

    def decode(start_ids, memory):
        state = {
            "memory": memory,
            "step": ops.zeros_like(start_ids),
            "hidden": ops.zeros_like(memory),
        }
        return greedy_search(step_fn, state, start_ids, END_ID, MAX_LENGTH)

    start_ids = ops.convert_to_tensor([0, 2], "int32")
    memory = attention_initial_state()["memory"]
    eager = decode(start_ids, memory)
    compiled = compile_decoder(decode)(start_ids, memory)
    for key in ("sequences", "lengths", "scores", "attention"):
        np.testing.assert_allclose(
            to_numpy(compiled[key]), to_numpy(eager[key]), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"max_length": 0}, "`max_length` must be >= 1"),
        ({"max_length": 2.5}, "`max_length` must be an integer"),
        ({"end_id": 7}, r"`end_id` must be in \[0, 4\). Received: end_id=7"),
        ({"end_id": -1}, r"`end_id` must be in \[0, 4\)"),
        ({"pad_id": 4}, r"`pad_id` must be in \[0, 4\)"),
        ({"start_ids": np.array([0, 4])}, r"`start_ids` must be in \[0, 4\)"),
        ({"start_ids": np.array([0.0, 1.0])}, "integer dtype"),
        ({"start_ids": np.zeros((2, 1), "int32")}, r"shape `\[batch\]`"),
        ({"vocabulary_size": 5}, "`vocabulary_size` must match"),
        ({"initial_state": table_initial_state(3)}, r"`start_ids` \(2\)"),
    ],
)
def test_bad_input_raises(overrides, message):
    arguments = {
        "step_fn": table_step_fn(random_log_tables(seed=5)),
        "initial_state": table_initial_state(),
        "start_ids": np.array([0, 1], "int32"),
        "end_id": END_ID,
        "max_length": MAX_LENGTH,
    }
    arguments.update(overrides)
    with pytest.raises(ValueError, match=message):
        greedy_search(**arguments)


def test_bad_step_fn_outputs_raise():
    def step_fn(token_ids, state):
        return ops.zeros([BATCH_SIZE, VOCABULARY_SIZE])

    with pytest.raises(ValueError, match="`step_fn` must return"):
        greedy_search(
            step_fn, table_initial_state(), np.array([0, 1]), END_ID, 3
        )
