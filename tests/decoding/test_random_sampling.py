import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.decoding import greedy_search
from keras_attention.decoding import random_sampling
from tests.conftest import to_numpy
from tests.decoding.helpers import END_ID
from tests.decoding.helpers import MAX_LENGTH
from tests.decoding.helpers import VOCABULARY_SIZE
from tests.decoding.helpers import attention_initial_state
from tests.decoding.helpers import attention_step_fn
from tests.decoding.helpers import compile_decoder
from tests.decoding.helpers import numpy_log_softmax
from tests.decoding.helpers import numpy_sequence_log_prob
from tests.decoding.helpers import random_log_tables
from tests.decoding.helpers import replay
from tests.decoding.helpers import table_initial_state
from tests.decoding.helpers import table_step_fn


def sample(log_tables, start_ids, **kwargs):
    return random_sampling(
        table_step_fn(log_tables),
        table_initial_state(len(start_ids)),
        np.asarray(start_ids, "int32"),
        end_id=END_ID,
        max_length=len(log_tables),
        **kwargs,
    )


def decode_greedily(log_tables, start_ids):
    return greedy_search(
        table_step_fn(log_tables),
        table_initial_state(len(start_ids)),
        np.asarray(start_ids, "int32"),
        end_id=END_ID,
        max_length=len(log_tables),
    )


def assert_same_outputs(actual, expected):
    for key in ("sequences", "lengths"):
        np.testing.assert_array_equal(
            to_numpy(actual[key]), to_numpy(expected[key])
        )
    np.testing.assert_allclose(
        to_numpy(actual["scores"]), to_numpy(expected["scores"]), rtol=1e-5
    )


def test_same_seed_same_samples_and_other_seed_differs():
    # Uniform over the three tokens other than the end token: two seeds
    # give the same 8 tokens with probability 3 ** -8.
    shape = (MAX_LENGTH, VOCABULARY_SIZE, VOCABULARY_SIZE)
    log_tables = np.zeros(shape, "float32")
    log_tables[..., END_ID] = -30.0
    first = sample(log_tables, [0, 2], seed=7)
    assert_same_outputs(sample(log_tables, [0, 2], seed=7), first)
    other = sample(log_tables, [0, 2], seed=8)
    assert not np.array_equal(
        to_numpy(first["sequences"]), to_numpy(other["sequences"])
    )


def test_seed_generator_advances_between_calls():
    shape = (MAX_LENGTH, VOCABULARY_SIZE, VOCABULARY_SIZE)
    log_tables = np.zeros(shape, "float32")
    log_tables[..., END_ID] = -30.0
    generator = keras.random.SeedGenerator(3)
    first = sample(log_tables, [0, 2], seed=generator)
    second = sample(log_tables, [0, 2], seed=generator)
    assert not np.array_equal(
        to_numpy(first["sequences"]), to_numpy(second["sequences"])
    )
    replayed = sample(log_tables, [0, 2], seed=keras.random.SeedGenerator(3))
    assert_same_outputs(replayed, first)


def test_scores_are_log_probs_under_the_untempered_model():
    log_tables = random_log_tables(seed=1)
    start_ids = [0, 3]
    outputs = sample(log_tables, start_ids, temperature=1.7, top_k=3, seed=3)
    sequences = to_numpy(outputs["sequences"])
    lengths = to_numpy(outputs["lengths"])
    for row, start_id in enumerate(start_ids):
        tokens = sequences[row, : lengths[row]].tolist()
        assert lengths[row] == MAX_LENGTH or tokens[-1] == END_ID
        assert (sequences[row, lengths[row] :] == 0).all()
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[row],
            numpy_sequence_log_prob(log_tables, start_id, tokens),
            rtol=1e-5,
        )


def test_top_k_one_equals_greedy():
    log_tables = random_log_tables(seed=4)
    assert_same_outputs(
        sample(log_tables, [0, 2], top_k=1, seed=11),
        decode_greedily(log_tables, [0, 2]),
    )


def test_tiny_temperature_equals_greedy():
    log_tables = random_log_tables(seed=6)
    assert_same_outputs(
        sample(log_tables, [0, 3], temperature=1e-4, seed=12),
        decode_greedily(log_tables, [0, 3]),
    )


@pytest.mark.parametrize(
    "temperature, top_k", [(1.0, None), (2.0, None), (2.0, 2), (0.5, 3)]
)
def test_first_token_frequencies_match_the_distribution(temperature, top_k):
    num_samples = 4000
    logits = np.array([1.0, -0.5, 0.3, 2.0], "float32")
    log_tables = np.tile(logits, (1, VOCABULARY_SIZE, 1))
    outputs = sample(
        log_tables,
        np.zeros(num_samples, "int32"),
        temperature=temperature,
        top_k=top_k,
        seed=2024,
    )
    first_tokens = to_numpy(outputs["sequences"])[:, 0]
    frequencies = np.bincount(first_tokens, minlength=VOCABULARY_SIZE)
    frequencies = frequencies / num_samples

    scaled = logits / temperature
    if top_k is not None:
        outside_top_k = np.argsort(scaled)[:-top_k]
        scaled[outside_top_k] = -np.inf
        assert (frequencies[outside_top_k] == 0).all()
    expected = np.exp(numpy_log_softmax(scaled))
    # 4000 draws: the standard error of each frequency is below 0.008.
    np.testing.assert_allclose(frequencies, expected, atol=0.03)


def test_compiled_sampling_is_reproducible_and_consistent():
    step_fn = attention_step_fn()
    initial_state = attention_initial_state()

    def decode(start_ids, memory):
        state = {
            "memory": memory,
            "step": ops.zeros_like(start_ids),
            "hidden": ops.zeros_like(memory),
        }
        return random_sampling(
            step_fn, state, start_ids, END_ID, MAX_LENGTH, top_k=3, seed=5
        )

    start_ids = np.array([0, 2], "int32")
    arguments = (ops.convert_to_tensor(start_ids), initial_state["memory"])
    compiled_decode = compile_decoder(decode)
    compiled = compiled_decode(*arguments)
    again = compiled_decode(*arguments)
    keys = ("sequences", "lengths", "scores", "attention")
    for key in keys:
        np.testing.assert_array_equal(
            to_numpy(compiled[key]), to_numpy(again[key])
        )
    sequences = to_numpy(compiled["sequences"])
    lengths = to_numpy(compiled["lengths"])
    for row, start_id in enumerate(start_ids):
        tokens = sequences[row, : lengths[row]].tolist()
        total, _, attention = replay(
            step_fn, initial_state, row, start_id, tokens
        )
        np.testing.assert_allclose(
            to_numpy(compiled["scores"])[row], total, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            to_numpy(compiled["attention"])[row, : lengths[row]],
            attention,
            rtol=1e-5,
            atol=1e-6,
        )
    if keras.backend.backend() == "jax":
        # TensorFlow's stateless random generator draws other noise under
        # XLA than eagerly; JAX draws the same.
        eager = decode(*arguments)
        for key in keys:
            np.testing.assert_allclose(
                to_numpy(compiled[key]),
                to_numpy(eager[key]),
                rtol=1e-5,
                atol=1e-6,
            )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"temperature": 0.0}, "`temperature` must be a number > 0"),
        ({"temperature": -1.0}, "temperature=-1.0"),
        ({"top_k": 0}, "`top_k` must be >= 1. Received: top_k=0"),
        ({"seed": "seven"}, "`seed` must be None, an int"),
        ({"max_length": 0}, "`max_length` must be >= 1"),
        ({"end_id": 4}, r"`end_id` must be in \[0, 4\)"),
    ],
)
def test_bad_input_raises(overrides, message):
    arguments = {
        "step_fn": table_step_fn(random_log_tables(seed=0)),
        "initial_state": table_initial_state(2),
        "start_ids": np.array([0, 1], "int32"),
        "end_id": END_ID,
        "max_length": MAX_LENGTH,
    }
    arguments.update(overrides)
    with pytest.raises(ValueError, match=message):
        random_sampling(**arguments)
