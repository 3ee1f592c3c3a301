"""Step functions and oracles that the decoding tests share.

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
