"""Tests of `greedy_search`."""

import numpy as np
import pytest
from keras import ops

from keras_attention.decoding import greedy_search
from tests.conftest import to_numpy
from tests.decoding.helpers import BATCH_SIZE
from tests.decoding.helpers import END_ID
from tests.decoding.helpers import EPSILON_PROBABILITY
from tests.decoding.helpers import MAX_LENGTH
from tests.decoding.helpers import SOURCE_LENGTH
from tests.decoding.helpers import VOCABULARY_SIZE
from tests.decoding.helpers import attention_initial_state
from tests.decoding.helpers import attention_step_fn
from tests.decoding.helpers import compile_decoder
from tests.decoding.helpers import dtype_of
from tests.decoding.helpers import log_tables_from_probabilities
from tests.decoding.helpers import numpy_log_softmax
from tests.decoding.helpers import numpy_sequence_log_prob
from tests.decoding.helpers import random_log_tables
from tests.decoding.helpers import replay
from tests.decoding.helpers import table_initial_state
from tests.decoding.helpers import table_step_fn


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
    # The steps sit just before the source axis, heads first.
    assert attention.shape == (
        (BATCH_SIZE,) + head_shape + (MAX_LENGTH, SOURCE_LENGTH)
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
        history = np.moveaxis(attention[row], -2, 0)  # steps first
        np.testing.assert_allclose(
            history[:length], step_attention, rtol=1e-5, atol=1e-6
        )
        assert (history[length:] == 0).all()


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
