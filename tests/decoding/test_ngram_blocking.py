"""Tests of n-gram blocking (`no_repeat_ngram_size`, Paulus et al. 2017).

The oracles are hand-worked sequences of a bigram model that loops, an
exhaustive enumeration of the sequences without a repeated n-gram and a
NumPy beam search written from the algorithm's description.
"""

import itertools

import numpy as np
import pytest
from keras import ops

from keras_attention.decoding import beam_search
from keras_attention.decoding import greedy_search
from keras_attention.decoding import random_sampling
from keras_attention.decoding._loop_utils import repeated_ngram_mask
from tests.conftest import to_numpy
from tests.decoding.helpers import END_ID
from tests.decoding.helpers import VOCABULARY_SIZE
from tests.decoding.helpers import compile_decoder
from tests.decoding.helpers import numpy_log_softmax
from tests.decoding.helpers import numpy_sequence_log_prob
from tests.decoding.helpers import random_log_tables
from tests.decoding.helpers import table_initial_state
from tests.decoding.helpers import table_step_fn

# The looping bigram model's tokens: 0 start and pad, 1 end, then a to d.
PAD, END, A, B, C, D = range(6)
# Next-token probabilities by previous token, in token order; greedy
# search without blocking loops a b c a b c ...
LOOP_PROBABILITIES = {
    PAD: [0.05, 0.05, 0.5, 0.2, 0.1, 0.1],
    END: [1 / 6] * 6,
    A: [0.05, 0.05, 0.05, 0.5, 0.2, 0.15],
    B: [0.05, 0.05, 0.15, 0.05, 0.5, 0.2],
    C: [0.05, 0.08, 0.5, 0.2, 0.05, 0.12],
    D: [0.05, 0.4, 0.3, 0.1, 0.1, 0.05],
}
LOOP_LENGTH = 8


def loop_step_fn():
    table = ops.convert_to_tensor(
        np.log([LOOP_PROBABILITIES[token] for token in range(6)]), "float32"
    )

    def step_fn(token_ids, state):
        return ops.take(table, token_ids, axis=0), state

    return step_fn


def loop_log_prob(start_id, tokens):
    previous, total = start_id, 0.0
    for token in tokens:
        total += np.log(LOOP_PROBABILITIES[previous][token])
        previous = token
    return total


def repeats_an_ngram(tokens, ngram_size):
    """Whether some n-gram occurs twice in `tokens` (NumPy-free oracle)."""
    if ngram_size == 0:
        return False
    ngrams = [
        tuple(tokens[i : i + ngram_size])
        for i in range(len(tokens) - ngram_size + 1)
    ]
    return len(set(ngrams)) < len(ngrams)


def would_repeat(tokens, token, ngram_size):
    """Whether appending `token` to `tokens` repeats one of their n-grams."""
    if ngram_size == 0 or len(tokens) < ngram_size - 1:
        return False
    new = tuple(tokens[len(tokens) - ngram_size + 1 :]) + (token,)
    return any(
        tuple(tokens[i : i + ngram_size]) == new
        for i in range(len(tokens) - ngram_size + 1)
    )


# Greedy search on the looping model from the start token and from a.
LOOP_START_IDS = np.array([PAD, A], "int32")
HAND_WORKED_LOOPS = {
    # No blocking: the loop.
    0: [[A, B, C, A, B, C, A, B], [B, C, A, B, C, A, B, C]],
    # n = 1: after a b c every loop token is used; c -> d (0.12) beats the
    # end (0.08); d -> end (0.4). From a, which as the start token is not
    # part of the hypothesis, a is generated after b c.
    1: [[A, B, C, D, END, PAD, PAD, PAD], [B, C, A, D, END, PAD, PAD, PAD]],
    # n = 2: a b c a, then b (ab used) -> c (0.2), then a (ca used) -> b
    # (0.2), then c (bc used) -> d (0.2), then the end.
    2: [[A, B, C, A, C, B, D, END], [B, C, A, B, D, END, PAD, PAD]],
    # n = 3: a b c a b, then c (abc used) -> d (0.2), then the end:
    # p = 0.5 ** 5 * 0.2 * 0.4. From a: b c a b c, then a (bca used) ->
    # b, c (cbc is new), then a (bca) and b (bcb) are used -> d (0.12).
    3: [[A, B, C, A, B, D, END, PAD], [B, C, A, B, C, B, C, D]],
}


def assert_hand_worked_loops(outputs, ngram_size):
    expected = HAND_WORKED_LOOPS[ngram_size]
    assert to_numpy(outputs["sequences"]).tolist() == expected
    for row, start_id in enumerate(LOOP_START_IDS):
        tokens = expected[row]
        length = tokens.index(END) + 1 if END in tokens else len(tokens)
        assert to_numpy(outputs["lengths"])[row] == length
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[row],
            loop_log_prob(start_id, tokens[:length]),
            rtol=1e-5,
        )
        assert not repeats_an_ngram(tokens[:length], ngram_size)


@pytest.mark.parametrize("ngram_size", [0, 1, 2, 3])
def test_greedy_blocking_breaks_the_loop_by_hand(ngram_size):
    outputs = greedy_search(
        loop_step_fn(),
        ops.zeros([2, 1]),
        LOOP_START_IDS,
        end_id=END,
        max_length=LOOP_LENGTH,
        no_repeat_ngram_size=ngram_size,
    )
    assert_hand_worked_loops(outputs, ngram_size)
    if ngram_size == 3:
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[0],
            np.log(0.5**5 * 0.2 * 0.4),
            rtol=1e-5,
        )


def test_beam_of_width_one_blocks_like_greedy_search():
    outputs = beam_search(
        loop_step_fn(),
        ops.zeros([2, 1]),
        LOOP_START_IDS,
        end_id=END,
        max_length=LOOP_LENGTH,
        beam_width=1,
        no_repeat_ngram_size=3,
    )
    outputs = {key: value[:, 0] for key, value in outputs.items()}
    assert_hand_worked_loops(outputs, 3)


def test_sampling_blocks_repeats():
    # Nearly greedy (temperature 0.01: the runner-up tokens' probabilities
    # are at most (0.15 / 0.2) ** 100 of the best's), sampling follows the
    # hand-worked sequences; flattened (temperature 3), it still never
    # repeats a token with n = 1, and the scores stay the model's.
    arguments = {
        "step_fn": loop_step_fn(),
        "initial_state": ops.zeros([2, 1]),
        "start_ids": LOOP_START_IDS,
        "end_id": END,
        "max_length": LOOP_LENGTH,
        "seed": 5,
    }
    outputs = random_sampling(
        temperature=0.01, no_repeat_ngram_size=2, **arguments
    )
    assert_hand_worked_loops(outputs, 2)
    outputs = random_sampling(
        temperature=3.0, no_repeat_ngram_size=1, **arguments
    )
    sequences = to_numpy(outputs["sequences"])
    for row, start_id in enumerate(LOOP_START_IDS):
        tokens = sequences[row, : to_numpy(outputs["lengths"])[row]].tolist()
        assert not repeats_an_ngram(tokens, 1)
        np.testing.assert_allclose(
            to_numpy(outputs["scores"])[row],
            loop_log_prob(start_id, tokens),
            rtol=1e-5,
        )


@pytest.mark.parametrize("ngram_size", [1, 2, 3])
def test_mask_matches_numpy_for_every_step(ngram_size):
    # Tokens from {0, 2, 3} (vocabulary 4) so that n-grams repeat often;
    # the row is read as its first `step` tokens.
    rng = np.random.default_rng(ngram_size)
    max_length, rows = 7, 5
    sequences = rng.choice([0, 2, 3], size=(rows, max_length)).astype("int32")
    for step in range(max_length):
        blocked = repeated_ngram_mask(
            ops.convert_to_tensor(sequences),
            ops.convert_to_tensor(step, "int32"),
            ngram_size,
            VOCABULARY_SIZE,
        )
        expected = [
            [
                would_repeat(list(sequences[row, :step]), token, ngram_size)
                for token in range(VOCABULARY_SIZE)
            ]
            for row in range(rows)
        ]
        np.testing.assert_array_equal(to_numpy(blocked), expected)
    # A repeat of n tokens needs n + 1 generated tokens.
    assert (
        repeated_ngram_mask(
            ops.convert_to_tensor(sequences[:, :ngram_size]),
            0,
            ngram_size,
            VOCABULARY_SIZE,
        )
        is None
    )


def ngram_log_tables(seed, steps):
    # The end token is made less likely so that hypotheses run long enough
    # to repeat n-grams.
    log_tables = random_log_tables(seed, steps=steps)
    log_tables[..., END_ID] -= 1.5
    return log_tables


def gnmt_score(log_prob, length, alpha):
    return log_prob / ((5.0 + length) / 6.0) ** alpha


def numpy_beam_search(
    log_tables, start_id, beam_width, max_length, ngram_size, alpha
):
    """Beam search as described, in plain Python over NumPy tables.

    At each step every unfinished hypothesis is extended by every token
    that does not repeat one of its n-grams, finished ones are kept as they
    are, and the `beam_width` best by the GNMT score survive. Returns
    `(score, log_prob, tokens)`, best first.
    """
    log_probs = numpy_log_softmax(log_tables)
    beams = [((), 0.0, False)]
    for step in range(max_length):
        table = log_probs[min(step, len(log_tables) - 1)]
        candidates = []
        for tokens, log_prob, finished in beams:
            if finished:
                candidates.append((tokens, log_prob, True))
                continue
            previous = tokens[-1] if tokens else start_id
            for token in range(VOCABULARY_SIZE):
                if not would_repeat(list(tokens), token, ngram_size):
                    candidates.append(
                        (
                            tokens + (token,),
                            log_prob + table[previous, token],
                            token == END_ID,
                        )
                    )
        candidates.sort(
            key=lambda entry: -gnmt_score(entry[1], len(entry[0]), alpha)
        )
        beams = candidates[:beam_width]
    return [
        (gnmt_score(log_prob, len(tokens), alpha), log_prob, list(tokens))
        for tokens, log_prob, _ in beams
    ]


def decode_beams(log_tables, start_ids, max_length, **kwargs):
    return beam_search(
        table_step_fn(log_tables),
        table_initial_state(len(start_ids)),
        np.asarray(start_ids, "int32"),
        end_id=END_ID,
        max_length=max_length,
        **kwargs,
    )


def returned_hypotheses(outputs, batch_index):
    """`(score, log_prob, tokens)` of the finite results of one entry."""
    scores = to_numpy(outputs["scores"])[batch_index]
    log_probs = to_numpy(outputs["log_probs"])[batch_index]
    sequences = to_numpy(outputs["sequences"])[batch_index]
    lengths = to_numpy(outputs["lengths"])[batch_index]
    return [
        (score, log_prob, sequence[:length].tolist())
        for score, log_prob, sequence, length in zip(
            scores, log_probs, sequences, lengths, strict=True
        )
        if np.isfinite(score)
    ]


def assert_same_hypotheses(actual, expected):
    assert [tokens for _, _, tokens in actual] == [
        tokens for _, _, tokens in expected
    ]
    for index in (0, 1):
        np.testing.assert_allclose(
            [entry[index] for entry in actual],
            [entry[index] for entry in expected],
            rtol=1e-5,
        )


@pytest.mark.parametrize("ngram_size", [0, 1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_matches_numpy_beam_search(seed, ngram_size):
    beam_width, max_length, alpha = 3, 6, 0.5
    log_tables = ngram_log_tables(seed, steps=max_length)
    start_ids = [0, 3]
    outputs = decode_beams(
        log_tables,
        start_ids,
        max_length,
        beam_width=beam_width,
        num_results=beam_width,
        length_penalty=alpha,
        no_repeat_ngram_size=ngram_size,
    )
    for batch_index, start_id in enumerate(start_ids):
        expected = numpy_beam_search(
            log_tables, start_id, beam_width, max_length, ngram_size, alpha
        )
        actual = returned_hypotheses(outputs, batch_index)
        assert_same_hypotheses(actual, expected)
        for _, _, tokens in actual:
            assert not repeats_an_ngram(tokens, ngram_size)


@pytest.mark.parametrize("ngram_size", [1, 2])
def test_wide_beam_returns_the_best_sequences_without_repeats(ngram_size):
    # At most 121 hypotheses of up to 4 tokens exist: 128 beams keep all,
    # so the results are the exhaustive ranking of those without a
    # repeated n-gram.
    max_length, beam_width = 4, 128
    log_tables = ngram_log_tables(seed=5, steps=max_length)
    outputs = decode_beams(
        log_tables,
        [2],
        max_length,
        beam_width=beam_width,
        num_results=beam_width,
        no_repeat_ngram_size=ngram_size,
    )
    hypotheses = set()
    for tokens in itertools.product(range(VOCABULARY_SIZE), repeat=max_length):
        if END_ID in tokens:
            tokens = tokens[: tokens.index(END_ID) + 1]
        if not repeats_an_ngram(tokens, ngram_size):
            hypotheses.add(tokens)
    expected = []
    for tokens in hypotheses:
        log_prob = numpy_sequence_log_prob(log_tables, 2, tokens)
        expected.append((log_prob, log_prob, list(tokens)))
    expected.sort(key=lambda entry: -entry[0])
    assert len(expected) < beam_width
    assert_same_hypotheses(returned_hypotheses(outputs, 0), expected)


def test_ngrams_longer_than_any_repeat_change_nothing():
    # A repeated 4-gram needs 5 tokens: with max_length 4 blocking is off.
    log_tables = ngram_log_tables(seed=3, steps=4)
    outputs = {
        size: decode_beams(
            log_tables, [0, 2], 4, beam_width=3, no_repeat_ngram_size=size
        )
        for size in (0, 4)
    }
    for key in ("sequences", "scores", "lengths"):
        np.testing.assert_array_equal(
            to_numpy(outputs[4][key]), to_numpy(outputs[0][key])
        )


def test_compiled_equals_eager():
    log_tables = ngram_log_tables(seed=4, steps=6)
    step_fn = table_step_fn(log_tables)

    def decode(start_ids):
        state = {"step": ops.zeros_like(start_ids)}
        arguments = dict(end_id=END_ID, max_length=6, no_repeat_ngram_size=2)
        return {
            "greedy": greedy_search(step_fn, state, start_ids, **arguments),
            "beam": beam_search(
                step_fn,
                state,
                start_ids,
                beam_width=3,
                num_results=3,
                length_penalty=0.5,
                **arguments,
            ),
        }

    start_ids = ops.convert_to_tensor([0, 3], "int32")
    eager = decode(start_ids)
    compiled = compile_decoder(decode)(start_ids)
    for decoder, keys in (
        ("greedy", ("sequences", "lengths", "scores")),
        ("beam", ("sequences", "lengths", "scores", "log_probs")),
    ):
        for key in keys:
            np.testing.assert_allclose(
                to_numpy(compiled[decoder][key]),
                to_numpy(eager[decoder][key]),
                rtol=1e-5,
            )
    # The eager beams are those of the NumPy oracle, so the compiled ones
    # are too.
    expected = numpy_beam_search(log_tables, 3, 3, 6, 2, 0.5)
    assert_same_hypotheses(returned_hypotheses(eager["beam"], 1), expected)


@pytest.mark.parametrize(
    "decoder", [greedy_search, beam_search, random_sampling]
)
@pytest.mark.parametrize(
    "value, message",
    [
        (-1, "`no_repeat_ngram_size` must be >= 0. Received: no_repeat_ng"),
        (2.0, "`no_repeat_ngram_size` must be an integer. Received: no_rep"),
        (True, "`no_repeat_ngram_size` must be an integer"),
        ("3", "`no_repeat_ngram_size` must be an integer"),
    ],
)
def test_bad_ngram_size_raises(decoder, value, message):
    def failing_step_fn(token_ids, state):
        raise AssertionError("the step function must not be called")

    with pytest.raises(ValueError, match=message):
        decoder(
            failing_step_fn,
            table_initial_state(),
            np.array([0, 2], "int32"),
            end_id=END_ID,
            max_length=4,
            no_repeat_ngram_size=value,
        )
