"""Beam search with the GNMT length and coverage penalties."""

import keras
from keras import ops

from keras_attention.decoding import _decode_loop
from keras_attention.decoding import _loop_utils


def length_penalty_factor(lengths, alpha):
    """GNMT length normalization `lp(Y) = ((5 + |Y|) / (5 + 1)) ** alpha`.

    Args:
        lengths: tensor of hypothesis lengths (including the end token).
        alpha: float, the length penalty weight; 0 disables it.

    Returns:
        A float32 tensor shaped like `lengths`; log-probabilities are
        divided by it.

    Example:

    >>> from keras import ops
    >>> factor = length_penalty_factor(ops.convert_to_tensor([1, 7]), 1.0)
    >>> [round(float(value), 4) for value in ops.convert_to_numpy(factor)]
    [1.0, 2.0]

    References:
        - [Wu et al., 2016. Google's Neural Machine Translation System](
          https://arxiv.org/abs/1609.08144), section 7, eq. 14.
    """
    lengths = ops.cast(lengths, "float32")
    return ops.power((5.0 + lengths) / 6.0, alpha)


def coverage_penalty_value(accumulated_attention, beta):
    """GNMT coverage penalty `beta * sum_i log(min(sum_j p_ij, 1))`.

    Source positions whose accumulated attention is exactly zero are
    treated as padding and skipped (a softmax never gives exactly zero to
    an unmasked position), as in the TensorFlow Addons beam search.

    Args:
        accumulated_attention: float tensor `[n, ...]`, the attention
            summed over the target steps so far; the penalty sums over all
            axes but the first (source positions, and heads if any).
        beta: float, the coverage penalty weight.

    Returns:
        A float32 tensor `[n]` (zero or negative), added to the scores.

    Example:

    >>> from keras import ops
    >>> penalty = coverage_penalty_value(
    ...     ops.convert_to_tensor([[0.5, 1.5, 0.0]]), 1.0
    ... )
    >>> round(float(ops.convert_to_numpy(penalty)[0]), 4)
    -0.6931

    References:
        - [Wu et al., 2016. Google's Neural Machine Translation System](
          https://arxiv.org/abs/1609.08144), section 7, eq. 14.
    """
    accumulated_attention = ops.cast(accumulated_attention, "float32")
    coverage = ops.where(
        ops.equal(accumulated_attention, 0.0), 1.0, accumulated_attention
    )
    log_coverage = ops.log(ops.minimum(coverage, 1.0))
    axes = tuple(range(1, len(log_coverage.shape)))
    return beta * ops.sum(log_coverage, axis=axes)


def _validate_arguments(
    beam_width, num_results, length_penalty, coverage, no_repeat_ngram_size
):
    beam_width = _loop_utils.check_integer("beam_width", beam_width, 1)
    num_results = _loop_utils.check_integer(
        "num_results", num_results, minimum=1
    )
    if num_results > beam_width:
        raise ValueError(
            f"`num_results` must be <= `beam_width` ({beam_width}). "
            f"Received: num_results={num_results}"
        )
    length_penalty = _loop_utils.check_non_negative_float(
        "length_penalty", length_penalty
    )
    coverage = _loop_utils.check_non_negative_float(
        "coverage_penalty", coverage
    )
    no_repeat_ngram_size = _loop_utils.check_ngram_size(no_repeat_ngram_size)
    return (
        beam_width,
        num_results,
        length_penalty,
        coverage,
        no_repeat_ngram_size,
    )


def beam_search(
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    beam_width=4,
    num_results=1,
    length_penalty=0.0,
    coverage_penalty=0.0,
    pad_id=0,
    vocabulary_size=None,
    no_repeat_ngram_size=0,
):
    """Decodes with beam search, ranked by the GNMT penalized score.

    Each batch entry keeps the `beam_width` best hypotheses by
    `s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)` (float32), with `lp` of
    `length_penalty_factor` and `cp` of `coverage_penalty_value` (`|Y|`
    counts the end token; later steps add no attention). A finished
    hypothesis is extended only by `pad_id`, for free; at the first step
    only beam 0 is live, so no duplicates are returned; after `max_length`
    steps unfinished hypotheses are ranked with the finished ones. The
    state is tiled to `batch * beam_width` rows and reordered by the beams'
    parents with `keras.ops.take` at every step. The loop is that of
    `greedy_search` (it compiles with XLA and stops once all are finished).

    `no_repeat_ngram_size=n > 0` blocks repeated n-grams within each
    hypothesis as in `greedy_search` (Paulus et al., 2017): a candidate
    token that would repeat an n-gram of its hypothesis (generated tokens
    only, not the start token) gets the log-probability `-inf` before the
    ranking. The end token is never blocked, so every live hypothesis has
    a candidate; when fewer than `beam_width` finite candidates remain,
    the other beams are scored `-inf` as described under Returns.

    Args:
        step_fn: callable `(token_ids, state) -> (logits, state)` or
            `(token_ids, state) -> (logits, state, attention)`, as in
            `greedy_search`, on `batch` rows at the first call and
            `batch * beam_width` (a batch entry's beams contiguous) after.
        initial_state: nested structure of tensors leading with `batch`.
        start_ids: integer tensor `[batch]`, the first input tokens.
        end_id: int in `[0, vocab)`, the token that finishes a hypothesis.
        max_length: int >= 1, the maximum number of generated tokens.
        beam_width: int >= 1, hypotheses kept per batch entry (1 is greedy).
        num_results: int in `[1, beam_width]`, hypotheses returned per
            batch entry.
        length_penalty: float >= 0, the GNMT `alpha`; 0 ranks by the raw
            log-probability, larger values favor longer hypotheses.
        coverage_penalty: float >= 0, the GNMT `beta`; requires `step_fn`
            to return attention (summed over its non-batch axes).
        pad_id: int in `[0, vocab)`, the token written after the end token.
        vocabulary_size: optional int, the last dimension of the logits.
        no_repeat_ngram_size: int >= 0, the size `n` of the n-grams that
            may not repeat within a hypothesis: 1 forbids any repeated
            token, 3 is the trigram blocking of Paulus et al. 0 (the
            default) disables blocking.

    Returns:
        A dict, best hypothesis first along axis 1: `"sequences"` int32
        `[batch, num_results, max_length]`, `"scores"` (`s(Y, X)`) and
        `"log_probs"` float32 `[batch, num_results]`, `"lengths"` int32
        `[batch, num_results]` (end token included) and, when `step_fn`
        returns attention, `"attention"` float32 in the layout of
        `greedy_search` behind `[batch, num_results]`, zero after the end
        token. A result scored `-inf` is not a real hypothesis (there were
        fewer distinct hypotheses than `num_results`).

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> # Bigram model over {0: pad/start, 1: end, 2, 3}: greedy takes 3
    >>> # then 2 then the end (p = 0.225); 2 then the end has p = 0.388.
    >>> table = ops.convert_to_tensor(np.log([
    ...     [0.01, 0.01, 0.40, 0.58], [0.25, 0.25, 0.25, 0.25],
    ...     [0.01, 0.97, 0.01, 0.01], [0.01, 0.30, 0.40, 0.29],
    ... ]), "float32")
    >>> def step_fn(token_ids, state):
    ...     return ops.take(table, token_ids, axis=0), state
    >>> outputs = beam_search(
    ...     step_fn, ops.zeros([1, 1]), ops.zeros([1], "int32"),
    ...     end_id=1, max_length=4, beam_width=2,
    ... )
    >>> ops.convert_to_numpy(outputs["sequences"]).tolist()
    [[[2, 1, 0, 0]]]

    References:
        - [Wu et al., 2016. Google's Neural Machine Translation System](
          https://arxiv.org/abs/1609.08144), section 7, eq. 14.
        - [Paulus et al., 2017. A Deep Reinforced Model for Abstractive
          Summarization](https://arxiv.org/abs/1705.04304), section 2.5
          (`no_repeat_ngram_size`).
    """
    options = (beam_width, num_results, length_penalty, coverage_penalty)
    strategy = _beam_strategy(*options, no_repeat_ngram_size)
    arguments = (step_fn, initial_state, start_ids, end_id, max_length)
    return _decode_loop.run(strategy, *arguments, pad_id, vocabulary_size)


def _beam_strategy(
    beam_width, num_results, length_penalty, coverage_penalty, ngram_size
):
    """The `make_strategy` of `_decode_loop.run` for beam search."""

    def make_strategy(end_id, pad_id, max_length, start_ids):
        return _BeamSearchStrategy(
            *_validate_arguments(
                beam_width,
                num_results,
                length_penalty,
                coverage_penalty,
                ngram_size,
            ),
            end_id,
            pad_id,
        )

    return make_strategy


class _BeamSearchStrategy(_decode_loop.DecodingStrategy):
    """The `DecodingStrategy` of `beam_search` (whose arguments it takes).

    Its carry holds, per batch entry and beam, the summed log-probabilities,
    the ranking scores, the lengths and whether the hypothesis finished,
    plus the token history `[batch * beam_width, max_length]` (which n-gram
    blocking reads) and, with a coverage penalty, the attention summed over
    the steps.
    """

    def __init__(
        self,
        beam_width,
        num_results,
        length_penalty,
        coverage_penalty,
        no_repeat_ngram_size,
        end_id,
        pad_id,
    ):
        self.beam_width = beam_width
        self.num_results = num_results
        self.length_penalty = length_penalty
        self.coverage_penalty = coverage_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.end_id = end_id
        self.pad_id = pad_id

    def start(
        self,
        batch_size,
        vocabulary_size,
        max_length,
        log_probs,
        state,
        attention,
    ):
        if self.coverage_penalty > 0.0 and attention is None:
            raise ValueError(
                "`coverage_penalty` > 0 requires `step_fn` to return "
                "`(logits, state, attention)`. Received: coverage_penalty="
                f"{self.coverage_penalty} and a `step_fn` that returns no "
                "attention"
            )
        self.batch_size = batch_size
        self.vocabulary_size = vocabulary_size
        beams = self.beam_width
        # All beams of a batch entry share the first step, so it ran on the
        # untiled batch and its outputs are tiled.
        log_probs, state = keras.tree.map_structure(
            lambda tensor: ops.repeat(tensor, beams, axis=0), (log_probs, state)
        )
        if attention is not None:
            attention = ops.repeat(attention, beams, axis=0)
        only_first_beam_live = ops.where(
            ops.equal(ops.arange(beams), 0), 0.0, float("-inf")
        )
        carry = {
            "log_probs": ops.tile(
                ops.expand_dims(only_first_beam_live, 0), [batch_size, 1]
            ),
            "scores": ops.zeros([batch_size, beams], "float32"),
            "finished": ops.zeros([batch_size, beams], "bool"),
            "lengths": ops.zeros([batch_size, beams], "int32"),
            "sequences": ops.full(
                [batch_size * beams, max_length], self.pad_id, "int32"
            ),
        }
        if self.coverage_penalty > 0.0:
            carry["coverage"] = ops.zeros(
                [batch_size * beams] + list(attention.shape[1:]), "float32"
            )
        return log_probs, state, attention, carry

    def live_rows(self, carry):
        return ops.reshape(ops.logical_not(carry["finished"]), [-1])

    def _scores(self, step, log_probs, attention, carry):
        """Candidate `(total log-probs, scores, lengths, coverage)`."""
        shape = [self.batch_size, self.beam_width, self.vocabulary_size]
        finished = carry["finished"]
        # Only live rows read the mask (finished ones take `pad_only`), and
        # their history is exactly `step` tokens without the end token.
        log_probs = _loop_utils.block_repeated_ngrams(
            log_probs,
            carry["sequences"],
            step,
            self.no_repeat_ngram_size,
            self.vocabulary_size,
        )
        # A finished hypothesis can only be extended by `pad_id`, for free.
        pad_only = ops.where(
            ops.equal(ops.arange(self.vocabulary_size), self.pad_id),
            0.0,
            float("-inf"),
        )
        candidates = ops.where(
            ops.expand_dims(finished, 2),
            pad_only,
            ops.reshape(log_probs, shape),
        )
        total = ops.expand_dims(carry["log_probs"], 2) + candidates
        lengths = carry["lengths"] + ops.cast(
            ops.logical_not(finished), "int32"
        )
        penalty = length_penalty_factor(lengths, self.length_penalty)
        scores = total / ops.expand_dims(penalty, 2)
        coverage = None
        if "coverage" in carry:
            coverage = carry["coverage"] + attention
            coverage_scores = coverage_penalty_value(
                coverage, self.coverage_penalty
            )
            scores = scores + ops.reshape(coverage_scores, shape[:2] + [1])
        return total, scores, lengths, coverage

    def advance(self, step, log_probs, attention, carry):
        total, scores, lengths, coverage = self._scores(
            step, log_probs, attention, carry
        )
        flat = [self.batch_size, self.beam_width * self.vocabulary_size]
        top_scores, top_indices = ops.top_k(
            ops.reshape(scores, flat), self.beam_width
        )
        top_indices = ops.cast(top_indices, "int32")
        parents = top_indices // self.vocabulary_size
        tokens = top_indices % self.vocabulary_size
        beam_offsets = ops.expand_dims(
            ops.arange(self.batch_size, dtype="int32") * self.beam_width, 1
        )
        parent_rows = ops.reshape(parents + beam_offsets, [-1])
        parent_finished = ops.take_along_axis(
            carry["finished"], parents, axis=1
        )
        # Only matters for -inf candidates chosen when fewer than
        # `beam_width` finite ones exist: finished stays padded.
        tokens = ops.where(parent_finished, self.pad_id, tokens)
        flat_tokens = ops.reshape(tokens, [-1])
        updated = {
            "log_probs": ops.take_along_axis(
                ops.reshape(total, flat), top_indices, axis=1
            ),
            "scores": top_scores,
            "finished": ops.logical_or(
                parent_finished, ops.equal(tokens, self.end_id)
            ),
            "lengths": ops.take_along_axis(lengths, parents, axis=1),
            "sequences": _loop_utils.write_step(
                ops.take(carry["sequences"], parent_rows, axis=0),
                step,
                flat_tokens,
            ),
        }
        if coverage is not None:
            updated["coverage"] = ops.take(coverage, parent_rows, axis=0)
        return flat_tokens, parent_rows, updated

    def done(self, carry):
        # Beams at -inf (fewer distinct hypotheses than beams) never end.
        return ops.all(
            ops.logical_or(carry["finished"], ops.isinf(carry["log_probs"]))
        )

    def results(self, carry, attention_history):
        def best(tensor):
            tensor = ops.reshape(
                tensor,
                [self.batch_size, self.beam_width] + list(tensor.shape[1:]),
            )
            return tensor[:, : self.num_results]

        results = {
            "sequences": best(carry["sequences"]),
            "scores": carry["scores"][:, : self.num_results],
            "log_probs": carry["log_probs"][:, : self.num_results],
            "lengths": carry["lengths"][:, : self.num_results],
        }
        if attention_history is not None:
            results["attention"] = best(attention_history)
        return results
