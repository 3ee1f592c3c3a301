import itertools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.decoding import beam_search
from keras_attention.decoding import coverage_penalty_value
from keras_attention.decoding import greedy_search
from keras_attention.decoding import length_penalty_factor
from tests.conftest import to_numpy
from tests.decoding.helpers import BATCH_SIZE
from tests.decoding.helpers import END_ID
from tests.decoding.helpers import MAX_LENGTH
from tests.decoding.helpers import SOURCE_LENGTH
from tests.decoding.helpers import VOCABULARY_SIZE
from tests.decoding.helpers import attention_initial_state
from tests.decoding.helpers import attention_step_fn
from tests.decoding.helpers import compile_decoder
from tests.decoding.helpers import log_tables_from_probabilities
from tests.decoding.helpers import numpy_log_softmax
from tests.decoding.helpers import numpy_sequence_log_prob
from tests.decoding.helpers import random_log_tables
from tests.decoding.helpers import replay
from tests.decoding.helpers import table_initial_state
from tests.decoding.helpers import table_step_fn

BEAM_WIDTH = 3


def numpy_gnmt_score(log_prob, length, alpha, attention=None, beta=0.0):
    """GNMT eq. 14 in NumPy; `attention` is `[steps, ...]` of one hypothesis."""
    score = log_prob / ((5.0 + length) / 6.0) ** alpha
    if beta:
        coverage = np.sum(attention, axis=0)
        coverage = coverage[coverage > 0]
        score += beta * np.sum(np.log(np.minimum(coverage, 1.0)))
    return score


def brute_force_ranking(log_tables, start_id, alpha, max_length=MAX_LENGTH):
    """Every distinct hypothesis, best first by the GNMT score.

    Enumerates all token sequences of `max_length` and cuts each after its
    first end token.
    """
    hypotheses = set()
    for tokens in itertools.product(range(VOCABULARY_SIZE), repeat=max_length):
        if END_ID in tokens:
            tokens = tokens[: tokens.index(END_ID) + 1]
        hypotheses.add(tokens)
    ranking = []
    for tokens in hypotheses:
        log_prob = numpy_sequence_log_prob(log_tables, start_id, tokens)
        score = numpy_gnmt_score(log_prob, len(tokens), alpha)
        ranking.append((score, log_prob, list(tokens)))
    ranking.sort(key=lambda entry: -entry[0])
    return ranking


def returned_hypotheses(outputs, batch_index):
    """The returned hypotheses of one batch entry as lists of tokens."""
    sequences = to_numpy(outputs["sequences"])[batch_index]
    lengths = to_numpy(outputs["lengths"])[batch_index]
    return [
        sequence[:length].tolist()
        for sequence, length in zip(sequences, lengths, strict=True)
    ]


def decode_tables(log_tables, start_ids, **kwargs):
    arguments = {"max_length": MAX_LENGTH, "beam_width": BEAM_WIDTH}
    arguments.update(kwargs)
    return beam_search(
        table_step_fn(log_tables),
        table_initial_state(len(start_ids)),
        np.asarray(start_ids, "int32"),
        end_id=END_ID,
        **arguments,
    )


def test_length_penalty_and_coverage_penalty_values_by_hand():
    # ((5 + 1) / 6) ** 0.5 = 1 and ((5 + 19) / 6) ** 0.5 = 2.
    np.testing.assert_allclose(
        to_numpy(length_penalty_factor(ops.convert_to_tensor([1, 19]), 0.5)),
        [1.0, 2.0],
        rtol=1e-6,
    )
    # Row 0: log(0.5) + log(1) + (zero: padding, skipped) = -0.6931.
    # Row 1: log(0.25) + log(0.5) = -2.0794, times beta = 0.5.
    accumulated = ops.convert_to_tensor([[0.5, 1.5, 0.0], [0.25, 0.5, 2.0]])
    np.testing.assert_allclose(
        to_numpy(coverage_penalty_value(accumulated, 0.5)),
        [0.5 * np.log(0.5), 0.5 * np.log(0.125)],
        rtol=1e-6,
    )


def test_finds_the_sequence_greedy_search_misses():
    # Greedy: 3 (0.58), 2 (0.40), end (0.97): p = 0.225.
    # Best: 2 (0.40), end (0.97): p = 0.388.
    log_tables = log_tables_from_probabilities(
        [
            {
                0: [0, 0, 0.40, 0.58],
                2: [0, 0.97, 0.01, 0.01],
                3: [0, 0.30, 0.40, 0.29],
            }
        ]
    )
    start_ids = np.array([0, 0], "int32")
    log_probs = numpy_log_softmax(log_tables[0])
    greedy_tokens = [int(np.argmax(log_probs[0]))]
    while greedy_tokens[-1] != END_ID:
        greedy_tokens.append(int(np.argmax(log_probs[greedy_tokens[-1]])))
    assert greedy_tokens == [3, 2, 1]
    outputs = decode_tables(log_tables, start_ids)
    np.testing.assert_array_equal(
        to_numpy(outputs["sequences"])[:, 0], [[2, 1, 0, 0], [2, 1, 0, 0]]
    )
    best = brute_force_ranking(log_tables, 0, alpha=0.0)[0]
    assert best[2] == [2, 1]
    np.testing.assert_allclose(
        to_numpy(outputs["log_probs"])[:, 0], [best[1], best[1]], rtol=1e-5
    )


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_wide_beam_matches_brute_force_ranking(alpha):
    # 4 tokens and 3 steps: 16 beams keep every prefix, so the returned
    # 16 hypotheses are the exact top 16 of the brute-force ranking.
    log_tables = random_log_tables(seed=7, steps=3)
    start_ids = [0, 2]
    outputs = decode_tables(
        log_tables,
        start_ids,
        max_length=3,
        beam_width=16,
        num_results=16,
        length_penalty=alpha,
    )
    for batch_index, start_id in enumerate(start_ids):
        ranking = brute_force_ranking(log_tables, start_id, alpha, 3)[:16]
        assert returned_hypotheses(outputs, batch_index) == [
            tokens for _, _, tokens in ranking
        ]
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[batch_index],
            [score for score, _, _ in ranking],
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            to_numpy(outputs["log_probs"])[batch_index],
            [log_prob for _, log_prob, _ in ranking],
            rtol=1e-5,
        )


def test_narrow_beam_results_are_ranked_and_scored_correctly():
    log_tables = random_log_tables(seed=8)
    start_ids = [0, 3]
    outputs = decode_tables(
        log_tables, start_ids, num_results=BEAM_WIDTH, length_penalty=0.6
    )
    scores = to_numpy(outputs["scores"])
    assert (np.diff(scores, axis=1) <= 0).all()
    for batch_index, start_id in enumerate(start_ids):
        hypotheses = returned_hypotheses(outputs, batch_index)
        assert len({tuple(tokens) for tokens in hypotheses}) == BEAM_WIDTH
        for rank, tokens in enumerate(hypotheses):
            log_prob = numpy_sequence_log_prob(log_tables, start_id, tokens)
            np.testing.assert_allclose(
                to_numpy(outputs["log_probs"])[batch_index, rank],
                log_prob,
                rtol=1e-5,
            )
            np.testing.assert_allclose(
                scores[batch_index, rank],
                numpy_gnmt_score(log_prob, len(tokens), 0.6),
                rtol=1e-5,
            )


def test_length_penalty_swaps_a_short_and_a_long_hypothesis():
    # Short [2, end]: 0.55 * 0.55 = 0.3025. Long [3, 3, 3, end]:
    # 0.45 * 0.85 ** 3 = 0.2764. With alpha = 0 the short one wins:
    # log 0.3025 = -1.196 > log 0.2764 = -1.286. With alpha = 1, lp = 7/6
    # and 9/6: -1.025 < -0.857, the long one wins.
    continue_short = [0, 0.55, 0.2, 0.25]
    continue_long = [0, 0.05, 0.10, 0.85]
    log_tables = log_tables_from_probabilities(
        [
            {0: [0, 0, 0.55, 0.45]},
            {2: continue_short, 3: continue_long},
            {2: continue_short, 3: continue_long},
            {2: continue_short, 3: [0, 0.85, 0.10, 0.05]},
        ]
    )
    expected_winners = {0.0: ([2, 1], -1.196), 1.0: ([3, 3, 3, 1], -0.857)}
    for alpha, (tokens, hand_worked_score) in expected_winners.items():
        outputs = decode_tables(log_tables, [0, 0], length_penalty=alpha)
        assert returned_hypotheses(outputs, 0) == [tokens]
        best_score, _, best_tokens = brute_force_ranking(log_tables, 0, alpha)[
            0
        ]
        assert best_tokens == tokens
        score = to_numpy(outputs["scores"])[0, 0]
        np.testing.assert_allclose(score, best_score, rtol=1e-5)
        np.testing.assert_allclose(score, hand_worked_score, atol=0.01)


def coverage_step_fn():
    """First token 2 (0.45) or 3 (0.55); then the end token (~0.997).

    Attention on a 3-position source: [0.5, 0.5, 0] after tokens 0, 1 and
    2, and [0.9, 0.1, 0] after token 3. The last position is padding.
    """
    log_tables = log_tables_from_probabilities(
        [
            {0: [0, 0, 0.45, 0.55]},
            {2: [0, 1, 0, 0], 3: [0, 1, 0, 0]},
        ]
    )
    attention_table = ops.convert_to_tensor(
        [[0.5, 0.5, 0], [0.5, 0.5, 0], [0.5, 0.5, 0], [0.9, 0.1, 0]]
    )
    next_token_step_fn = table_step_fn(log_tables)

    def step_fn(token_ids, state):
        logits, state = next_token_step_fn(token_ids, state)
        return logits, state, ops.take(attention_table, token_ids, axis=0)

    return step_fn, log_tables


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_coverage_penalty_by_hand(beta):
    # [3, end] has p = 0.55 but covers the source [1.4, 0.6] (the start and
    # token 3 attend): cp = beta * log(0.6). [2, end] has p = 0.45 and
    # covers [1.0, 1.0]: cp = 0. beta = 1: -0.598 - 0.511 < -0.799, so
    # coverage swaps them. A third, unfinished beam keeps the loop going
    # after both end, so pad steps must not add coverage.
    step_fn, log_tables = coverage_step_fn()
    outputs = beam_search(
        step_fn,
        table_initial_state(),
        np.array([0, 0], "int32"),
        end_id=END_ID,
        max_length=MAX_LENGTH,
        beam_width=BEAM_WIDTH,
        num_results=2,
        coverage_penalty=beta,
    )
    log_prob = {
        first: numpy_sequence_log_prob(log_tables, 0, [first, 1])
        for first in (2, 3)
    }
    expected = {
        0.0: [([3, 1], log_prob[3]), ([2, 1], log_prob[2])],
        1.0: [([2, 1], log_prob[2]), ([3, 1], log_prob[3] + np.log(0.6))],
    }[beta]
    assert returned_hypotheses(outputs, 0) == [tokens for tokens, _ in expected]
    np.testing.assert_allclose(
        to_numpy(outputs["scores"])[0],
        [score for _, score in expected],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        to_numpy(outputs["scores"])[0, :1],
        {0.0: [np.log(0.55)], 1.0: [np.log(0.45)]}[beta],
        atol=0.01,
    )


def test_attention_history_and_scores_match_replay():
    # Logits depend on a memory in the state, so beams' parents reorder;
    # each returned history must follow its own hypothesis. The attention
    # has heads, `[n, 2, SOURCE_LENGTH]`.
    alpha, beta = 0.6, 0.4
    step_fn = attention_step_fn(heads=2)
    initial_state = attention_initial_state()
    start_ids = np.array([0, 3], "int32")
    outputs = beam_search(
        step_fn,
        initial_state,
        start_ids,
        end_id=END_ID,
        max_length=MAX_LENGTH,
        beam_width=BEAM_WIDTH,
        num_results=BEAM_WIDTH,
        length_penalty=alpha,
        coverage_penalty=beta,
    )
    attention = to_numpy(outputs["attention"])
    # Heads first, the steps just before the source axis.
    assert attention.shape == (
        BATCH_SIZE,
        BEAM_WIDTH,
        2,
        MAX_LENGTH,
        SOURCE_LENGTH,
    )
    scores = to_numpy(outputs["scores"])
    assert (np.diff(scores, axis=1) <= 0).all()
    for batch_index, start_id in enumerate(start_ids):
        hypotheses = returned_hypotheses(outputs, batch_index)
        assert len({tuple(tokens) for tokens in hypotheses}) == BEAM_WIDTH
        for rank, tokens in enumerate(hypotheses):
            assert len(tokens) == MAX_LENGTH or tokens[-1] == END_ID
            total, _, step_attention = replay(
                step_fn, initial_state, batch_index, start_id, tokens
            )
            history = np.moveaxis(attention[batch_index, rank], -2, 0)
            np.testing.assert_allclose(
                history[: len(tokens)], step_attention, rtol=1e-5, atol=1e-6
            )
            assert (history[len(tokens) :] == 0).all()
            np.testing.assert_allclose(
                to_numpy(outputs["log_probs"])[batch_index, rank],
                total,
                rtol=1e-5,
            )
            np.testing.assert_allclose(
                scores[batch_index, rank],
                numpy_gnmt_score(
                    total, len(tokens), alpha, np.array(step_attention), beta
                ),
                rtol=1e-5,
            )


def test_beam_width_one_equals_greedy():
    step_fn = attention_step_fn()
    initial_state = attention_initial_state()
    start_ids = np.array([0, 2], "int32")
    greedy = greedy_search(
        step_fn, initial_state, start_ids, END_ID, MAX_LENGTH
    )
    beam = beam_search(
        step_fn, initial_state, start_ids, END_ID, MAX_LENGTH, beam_width=1
    )
    pairs = [
        ("sequences", "sequences"),
        ("lengths", "lengths"),
        ("scores", "log_probs"),
        ("scores", "scores"),
        ("attention", "attention"),
    ]
    for greedy_key, beam_key in pairs:
        np.testing.assert_allclose(
            to_numpy(beam[beam_key])[:, 0],
            to_numpy(greedy[greedy_key]),
            rtol=1e-5,
            atol=1e-6,
        )


def test_fewer_hypotheses_than_beams_are_ranked_last():
    # 4 tokens and one step: only 4 hypotheses exist for 6 beams.
    log_tables = random_log_tables(seed=9, steps=1)
    outputs = decode_tables(
        log_tables, [0, 2], max_length=1, beam_width=6, num_results=6
    )
    for batch_index, start_id in enumerate([0, 2]):
        ranking = brute_force_ranking(log_tables, start_id, 0.0, 1)
        assert returned_hypotheses(outputs, batch_index)[:4] == [
            tokens for _, _, tokens in ranking
        ]
        scores = to_numpy(outputs["scores"])[batch_index]
        np.testing.assert_allclose(
            scores[:4], [score for score, _, _ in ranking], rtol=1e-5
        )
        assert np.isneginf(scores[4:]).all()


def test_compiled_equals_eager():
    step_fn = attention_step_fn(heads=2)

    def decode(start_ids, memory):
        state = {
            "memory": memory,
            "step": ops.zeros_like(start_ids),
            "hidden": ops.zeros_like(memory),
        }
        return beam_search(
            step_fn,
            state,
            start_ids,
            end_id=END_ID,
            max_length=MAX_LENGTH,
            beam_width=BEAM_WIDTH,
            num_results=2,
            length_penalty=0.5,
            coverage_penalty=0.3,
        )

    start_ids = ops.convert_to_tensor([0, 2], "int32")
    memory = attention_initial_state()["memory"]
    eager = decode(start_ids, memory)
    compiled = compile_decoder(decode)(start_ids, memory)
    for key in ("sequences", "lengths", "scores", "log_probs", "attention"):
        np.testing.assert_allclose(
            to_numpy(compiled[key]), to_numpy(eager[key]), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"beam_width": 0}, "`beam_width` must be >= 1. Received: beam_wid"),
        ({"num_results": 0}, "`num_results` must be >= 1"),
        ({"num_results": 4}, r"`num_results` must be <= `beam_width` \(3\)"),
        ({"length_penalty": -0.5}, "`length_penalty` must be a finite"),
        ({"coverage_penalty": -1.0}, "`coverage_penalty` must be a finite"),
        ({"coverage_penalty": 0.5}, "requires `step_fn` to return"),
        ({"max_length": 0}, "`max_length` must be >= 1"),
        ({"end_id": 4}, r"`end_id` must be in \[0, 4\)"),
        ({"start_ids": np.array([0, 4])}, r"start_ids` must be in \[0, 4\)"),
        ({"vocabulary_size": 5}, "`vocabulary_size` must match"),
        ({"initial_state": table_initial_state(3)}, "batch size of `start_"),
    ],
)
def test_bad_input_raises(overrides, message):
    arguments = {
        "step_fn": table_step_fn(random_log_tables(seed=0)),
        "initial_state": table_initial_state(),
        "start_ids": np.array([0, 1], "int32"),
        "end_id": END_ID,
        "max_length": MAX_LENGTH,
        "beam_width": BEAM_WIDTH,
    }
    arguments.update(overrides)
    with pytest.raises(ValueError, match=message):
        beam_search(**arguments)


def test_start_ids_are_checked_before_the_first_step():
    def failing_step_fn(token_ids, state):
        raise AssertionError("the step function must not be called")

    with pytest.raises(ValueError, match=r"`start_ids` must be in \[0, 4\)"):
        beam_search(
            failing_step_fn,
            table_initial_state(),
            np.array([0, 4], "int32"),
            end_id=END_ID,
            max_length=MAX_LENGTH,
            vocabulary_size=VOCABULARY_SIZE,
        )


_XLA_COMPILE_SCRIPT = """
import keras
import tensorflow as tf
from keras import ops
from keras_attention.decoding import beam_search

batch, vocabulary = 64, {vocabulary}
embedding = keras.layers.Embedding(vocabulary, 32)
projection = keras.layers.Dense(vocabulary)


def step(token_ids, state):
    hidden = state["hidden"] + embedding(token_ids)
    return projection(hidden), {{"hidden": hidden}}


@tf.function(jit_compile=True)
def decode(state):
    start_ids = ops.full((batch,), 2, "int32")
    return beam_search(step, state, start_ids, 3, 14, beam_width=4)


decode({{"hidden": ops.zeros((batch, 32))}})
print("compiled")
"""


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the XLA CPU compile regression is measured with TensorFlow",
)
@pytest.mark.parametrize("vocabulary", [32])
def test_xla_compiles_beam_search_for_vocabularies_near_32(vocabulary):
    # Tiling the first step before its log-softmax made XLA CPU fuse the
    # repeat into the softmax's max reduction, and LLVM's loop vectorizer
    # then never finished compiling that kernel for vocabularies of 31-32
    # (minutes at 28): a 64-pair training run spent 12 minutes compiling.
    # It compiles in seconds now; the generous limit only catches the hang.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _XLA_COMPILE_SCRIPT.format(vocabulary=vocabulary),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, KERAS_BACKEND="tensorflow"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "compiled" in result.stdout
